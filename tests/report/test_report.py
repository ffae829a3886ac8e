"""`rlhf-eval report`: formats, provenance, gates and their exit codes, a real browser."""
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rlhf_eval.cli import main


def _report(run_dir, *extra):
    return main(["report", "--run", str(run_dir), *extra])


def test_report_writes_every_format_with_provenance(run_dir, capsys):
    assert _report(run_dir) == 0
    out = run_dir / "report"
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "report.json",
                                               "junit.xml"}
    doc = json.loads((out / "report.json").read_text())
    prov = doc["provenance"]
    assert prov["seed"] == 7 and prov["run_config"]["config"] == {"lr": 1e-5}
    assert "torch" in prov["packages"] and "rouge1" in prov["metric_signatures"]
    assert doc["checkpoint"] == "checkpoint-300" and doc["baseline"] == "baseline"
    # the comparison row equals the store's summary for that metric
    summary = {(r["checkpoint"], r["metric"]): r["mean"] for r in doc["summary"]}
    comp = {r["metric"]: r for r in doc["comparison"]}
    assert comp["gold"]["checkpoint"] == pytest.approx(summary[("checkpoint-300", "gold")])
    assert comp["gold"]["baseline"] == pytest.approx(summary[("baseline", "gold")])
    md = (out / "report.md").read_text()
    assert "| gold |" in md and "## Win-rates" in md and "git commit" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2  # trends + reward-vs-KL, embedded
    assert "http://" not in html and "https://" not in html  # self-contained


def test_worse_checkpoint_fails_its_gate_with_exit_1_and_junit_names_metric(run_dir, shift_scores):
    shift_scores(run_dir / "results.sqlite", "checkpoint-300", "gold", -2.0)
    code = _report(run_dir, "--fail-on", "gold:drop>0.05", "--fail-on", "kl:>1000")
    assert code == 1
    suite = ET.parse(run_dir / "report" / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(failed) == 1 and "gold" in failed[0].get("name")
    assert "gold" in failed[0].find("failure").get("message")
    assert json.loads((run_dir / "report" / "report.json").read_text())["passed"] is False


def test_improved_checkpoint_passes(run_dir, shift_scores):
    shift_scores(run_dir / "results.sqlite", "checkpoint-300", "gold", +2.0)
    assert _report(run_dir, "--fail-on", "gold:drop>0.0", "--format", "junit") == 0
    suite = ET.parse(run_dir / "report" / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0"


def test_gate_yaml_and_github_summary(run_dir, tmp_path, monkeypatch, shift_scores):
    shift_scores(run_dir / "results.sqlite", "checkpoint-300", "gold", -2.0)
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  - {metric: gold, max_drop: 5, relative: true}\n"
                     "checkpoint: checkpoint-300\n")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert _report(run_dir, "--gates", str(gates), "--format", "md") == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "**FAIL**" in text


@pytest.mark.parametrize("args, message", [
    (["--fail-on", "gold:drop<0.1"], "cannot parse gate"),
    (["--fail-on", "gold_typo:drop>0.1"], "unknown metric"),
    (["--checkpoint", "checkpoint-999"], "not in run"),
    (["--format", "pdf"], "unknown format"),
])
def test_malformed_gate_or_usage_exits_2(run_dir, args, message):
    res = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "report", "--run",
                          str(run_dir), *args], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_store_exits_2(tmp_path, capsys):
    assert main(["report", "--run", str(tmp_path)]) == 2
    assert "results.sqlite" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")
def test_html_report_renders_in_headless_chromium(run_dir, tmp_path):
    """Open the HTML report in a real browser: every plot image decodes, and keep a screenshot."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert _report(run_dir, "--format", "html") == 0
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1200,1600"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        driver.get((run_dir / "report" / "report.html").resolve().as_uri())
        sizes = driver.execute_script(
            "return Array.from(document.querySelectorAll('img.plot'))"
            ".map(i => [i.alt, i.complete, i.naturalWidth]);")
        artifacts = Path(__file__).resolve().parents[1] / "artifacts"
        artifacts.mkdir(exist_ok=True)
        driver.save_screenshot(str(artifacts / "report_html.png"))
    finally:
        driver.quit()
    titles = [s[0] for s in sizes]
    assert "Metrics across checkpoints" in titles and "Reward vs KL" in titles
    assert all(complete and width > 100 for _, complete, width in sizes), sizes


def test_correlation_tables_from_correlate_are_included(run_dir):
    rows = [{"metric": m, "aspect": a, "level": lvl, "method": "kendall", "value": v,
             "ci_low": v - 0.2, "ci_high": v + 0.1, "n": 16}
            for (m, v) in (("rouge2", 0.43), ("bertscore_f", 0.25))
            for a in ("relevance", "coherence") for lvl in ("summary", "system")]
    folder = run_dir / "correlation" / "summeval"
    folder.mkdir(parents=True)
    (folder / "correlations.json").write_text(json.dumps({"meta": {}, "correlations": rows}))
    assert _report(run_dir, "--format", "md,html,json") == 0
    md = (run_dir / "report" / "report.md").read_text()
    assert "| summeval | rouge2 | relevance | 0.43 (0.23 .. 0.53), n=16 |" in md
    assert "Correlation heatmap: summeval" in (run_dir / "report" / "report.html").read_text()
    doc = json.loads((run_dir / "report" / "report.json").read_text())
    assert len(doc["correlations"]) == len(rows)


def test_malformed_correlation_table_is_a_data_error(run_dir, capsys):
    folder = run_dir / "correlation" / "x"
    folder.mkdir(parents=True)
    (folder / "correlations.json").write_text(json.dumps([{"metric": "a"}]))
    assert _report(run_dir) == 2
    assert "correlations.json" in capsys.readouterr().err
