"""`rlhf-eval demo --fast`: the whole loop end to end, then a re-run that skips every stage.

Slow by nature (it trains an SFT policy, an RM and a few PPO steps): the one test that proves
the stages fit together through their real command lines.
"""
import json
import sqlite3
from pathlib import Path

import pytest

from rlhf_eval.demo import GATE, DemoConfig, run_demo, stages

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    code = run_demo(DemoConfig(out=out, fast=True), echo=lines.append)
    return out, code, "\n".join(lines)


@pytest.mark.slow
def test_fast_demo_runs_every_stage_and_says_where_things_are(demo):
    out, code, log = demo
    assert code == 0, log
    for stage in stages(DemoConfig(out=out, fast=True)):
        assert f"== {stage.name}: rlhf-eval " in log, f"stage {stage.name} did not run"
        assert stage.output.exists(), stage.output
    run = out / "ppo"
    assert f"rlhf-eval dashboard --run {run}" in log
    con = sqlite3.connect(run / "results.sqlite")
    checkpoints = {r[0] for r in con.execute("SELECT DISTINCT checkpoint FROM generations")}
    metrics = {r[0] for r in con.execute("SELECT DISTINCT metric FROM scores")}
    n_winrates = con.execute("SELECT COUNT(*) FROM winrates").fetchone()[0]
    con.close()
    assert {"baseline", "checkpoint-2", "checkpoint-4"} <= checkpoints
    assert {"rougeL", "bleu", "chrf", "bertscore_f", "reward", "kl", "gold"} <= metrics
    assert n_winrates > 0
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["checkpoint"] == "checkpoint-4" and report["gates"]
    assert {"lab", "summeval"} <= {r["dataset"] for r in report["correlations"]}
    assert (run / "report" / "junit.xml").is_file() and (run / "report" / "report.md").is_file()


@pytest.mark.slow
def test_rerun_skips_every_stage(demo):
    out, code, _ = demo
    lines: list[str] = []
    calls: list[list[str]] = []
    assert run_demo(DemoConfig(out=out, fast=True), echo=lines.append,
                    run_command=lambda argv: calls.append(argv) or 0) == 0
    assert calls == [], f"re-run did work: {calls}"
    assert sum("skipped (done" in line for line in lines) == len(stages(DemoConfig(out=out)))


@pytest.mark.slow
def test_dashboard_opens_on_the_demo_store(demo):
    from streamlit.testing.v1 import AppTest

    out, code, _ = demo
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["store_path"] = str(out / "ppo" / "results.sqlite")
    at.run()
    assert not at.exception, at.exception
    charts = [json.loads(e.proto.spec) for e in at.main
              if type(e).__name__ == "UnknownElement" and e.type == "vega_lite_chart"]
    titles = [c.get("title") for c in charts]
    assert "reward by checkpoint" in titles, titles  # the Runs page draws the demo's metrics


def test_unknown_stage_to_skip_is_a_usage_error(tmp_path, capsys):
    from rlhf_eval.cli import main

    assert main(["demo", "--out", str(tmp_path), "--fast", "--skip", "ppx"]) == 2
    assert "unknown stage" in capsys.readouterr().err


@pytest.mark.slow
def test_summary_is_short_and_says_what_a_user_judges_the_run_by(demo):
    out, code, log = demo
    assert code == 0, log
    assert "\r" not in log  # no progress-bar fragments outside a terminal
    tail = log[log.index("Demo finished"):].splitlines()
    assert len(tail) <= 25, "\n".join(tail)
    text = "\n".join(tail)
    for needle in ("gold reward", "gain", "RM score", "KL to SFT", "by step, gold/RM/KL",
                   "Reward model: accuracy", "best possible", "Best metric vs the lab's ratings",
                   "Best metric vs SummEval's experts", "no system level for lab",
                   f"Gate {GATE}:", str(out / "ppo" / "report" / "report.md"),
                   f"--fail-on '{GATE}'"):
        assert needle in text, f"{needle!r} missing from the summary:\n{text}"
    # every stage said what it did in one line, and its own output went to its log
    for stage in stages(DemoConfig(out=out, fast=True)):
        assert any(line.startswith(f"   {stage.name}: ") for line in log.splitlines()), stage.name
        assert (out / "logs" / f"{stage.name}.log").is_file(), stage.name


@pytest.mark.slow
def test_curve_gains_match_the_store(demo):
    """curve.csv's gold gain of each checkpoint = mean paired difference read from SQLite."""
    import csv

    out, _, _ = demo
    rows = list(csv.DictReader(open(out / "curve.csv")))
    con = sqlite3.connect(out / "ppo" / "results.sqlite")
    gold = {}
    for ck, sid, v in con.execute("SELECT g.checkpoint, g.sample_id, s.value FROM scores s "
                                  "JOIN generations g ON g.gen_id = s.gen_id "
                                  "WHERE s.metric = 'gold'"):
        gold.setdefault(ck, {})[sid] = v
    con.close()
    assert [r["checkpoint"] for r in rows] == ["baseline", "checkpoint-2", "checkpoint-4"]
    for r in rows:
        ids = sorted(gold[r["checkpoint"]])
        expect = sum(gold[r["checkpoint"]][i] - gold["baseline"][i] for i in ids) / len(ids)
        assert float(r["gold_gain"]) == pytest.approx(expect, abs=1e-9)
        assert float(r["gold_gain_low"]) <= float(r["gold_gain"]) <= float(r["gold_gain_high"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["checkpoint"] == "checkpoint-4"


@pytest.mark.slow
def test_demo_gate_fails_when_the_last_checkpoint_loses_gold(demo, tmp_path):
    """The demo's own report stage, pointed at a copy of its store in which the last
    checkpoint's gold reward is 0.5 lower on every prompt, fails (exit 1)."""
    import shutil

    from rlhf_eval.cli import main

    out, _, _ = demo
    run = tmp_path / "ppo"
    shutil.copytree(out / "ppo", run, ignore=shutil.ignore_patterns("checkpoint-*", "report"))
    con = sqlite3.connect(run / "results.sqlite")
    with con:
        con.execute("UPDATE scores SET value = value - 0.5 WHERE metric = 'gold' AND gen_id IN "
                    "(SELECT gen_id FROM generations WHERE checkpoint = 'checkpoint-4')")
    con.close()
    report = next(s for s in stages(DemoConfig(out=out, fast=True)) if s.name == "report")
    args = [str(run) if a == str(out / "ppo") else a for a in report.args]
    assert main(args) == 1
    gates = json.loads((run / "report" / "report.json").read_text())["gates"]
    assert [g["gate"] for g in gates] == [GATE] and not gates[0]["passed"]
    assert gates[0]["ci_high"] < 0


@pytest.mark.slow
def test_summary_warns_when_checkpoints_write_nothing(demo, tmp_path):
    """A last checkpoint whose completions are all empty (the RM's favourite on this lab: PPO
    finds it) is called reward hacking in the summary, whatever its gold gain; the curve
    records each checkpoint's empty share and mean length from the store."""
    import shutil

    from rlhf_eval.demo_summary import checkpoint_curve, degeneration_warning, render

    out, _, _ = demo
    store = tmp_path / "results.sqlite"
    shutil.copy(out / "ppo" / "results.sqlite", store)
    curve = checkpoint_curve(store)
    assert all(0.0 <= r["empty_share"] <= 1.0 and r["tokens"] >= 0 for r in curve)
    con = sqlite3.connect(store)
    with con:
        con.execute("UPDATE generations SET completion = '', n_tokens = 0 "
                    "WHERE checkpoint = 'checkpoint-4'")
    con.close()
    curve = checkpoint_curve(store)
    last = curve[-1]
    assert last["checkpoint"] == "checkpoint-4" and last["empty_share"] == 1.0
    assert last["tokens"] == 0.0
    lines = degeneration_warning(curve)
    assert len(lines) == 1 and "checkpoint-4 100%" in lines[0] and "reward hacking" in lines[0]
    shown = render({"curve": curve, "final": last, "baseline": curve[0], "correlations": {}},
                   out=tmp_path, run=tmp_path)
    assert lines[0] in shown
