"""Issue 19: `report` under hostile names, a concurrent `eval`, partial and failed checkpoints
and a full disk. Every outcome is one of the documented exit codes (0 ok, 1 gate failed,
2 usage/data/disk, 3 bug) and nothing is judged on half the data."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import pytest

from rlhf_eval.cli import main
from rlhf_eval.report import build_report_data
from rlhf_eval.store import ResultsStore
from rlhf_eval.testing import fill_disk, small_disk

INJECT = "x|y <script>alert(1)</script> ![img](http://evil.invalid/p.png) `code` **b**"


def _rename(store, *, run=None, checkpoint=None):
    """Rename the run or the last checkpoint in place (as if a user chose that name)."""
    con = sqlite3.connect(store)
    with con:
        if run:
            for table in ("runs", "checkpoints", "generations", "winrates", "strengths",
                          "pairwise_labels"):
                con.execute(f"UPDATE {table} SET run=? WHERE run='ppo-a'", (run,))
        if checkpoint:
            for table in ("checkpoints", "generations", "winrates", "strengths"):
                con.execute(f"UPDATE {table} SET checkpoint=? WHERE checkpoint='checkpoint-300'",
                            (checkpoint,))
    con.close()


def test_markdown_and_junit_escape_run_and_checkpoint_names(run_dir, tmp_path, monkeypatch):
    store = run_dir / "results.sqlite"
    _rename(store, run=INJECT, checkpoint="ck ## Gates PASSED <img src=x>")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["report", "--run", str(run_dir), "--fail-on", "gold:drop>100"]) == 0
    for text in ((run_dir / "report" / "report.md").read_text(), summary.read_text()):
        assert "<script>" not in text and "<img" not in text and "![img](" not in text
        assert "&lt;script&gt;" in text and "\\!\\[img\\]" in text
        # every table row keeps its column count: a '|' in a name cannot add a cell
        for line in text.splitlines():
            if line.startswith("| gold "):
                assert line.count("|") - line.count("\\|") == 6, line
        # no heading but the report's own
        assert [h for h in text.splitlines() if h.startswith("#")] == [
            h for h in text.splitlines() if h.startswith(("# rlhf-eval report", "## "))]
        assert "\n## Gates PASSED" not in text
    junit = ET.parse(run_dir / "report" / "junit.xml").getroot()  # valid XML
    assert INJECT in junit.find("testsuite").get("name")


def test_control_characters_in_names_are_refused_or_made_valid_xml(run_dir, capsys):
    assert main(["report", "--run", str(run_dir), "--run-name", "a\x1bb"]) == 2
    assert "control" in capsys.readouterr().err
    # a name already in a store (written by an older version) still gives valid XML
    _rename(run_dir / "results.sqlite", run="bad\x01name\x07")
    assert main(["report", "--run", str(run_dir), "--fail-on", "kl:>1000",
                 "--format", "junit,md"]) == 0
    ET.parse(run_dir / "report" / "junit.xml")
    assert "\x01" not in (run_dir / "report" / "report.md").read_text()


def _delete_scores(store, checkpoint, metric, keep):
    con = sqlite3.connect(store)
    with con:
        con.execute("DELETE FROM scores WHERE metric=? AND gen_id IN (SELECT gen_id FROM "
                    "generations WHERE checkpoint=? ORDER BY sample_id LIMIT -1 OFFSET ?)",
                    (metric, checkpoint, keep))
    con.close()


def test_partial_checkpoint_is_shown_partial_and_never_gated_as_complete(run_dir):
    _delete_scores(run_dir / "results.sqlite", "checkpoint-300", "gold", keep=8)
    data = build_report_data(run_dir=run_dir, gate_specs=["gold:drop>100", "kl:>1000"])
    gold, kl = data.gates
    assert not gold.passed and "partial" in gold.message and "8 of 20" in gold.message
    assert kl.passed  # kl is fully scored
    row = data.comparison.set_index("metric").loc["gold"]
    assert row["partial"] == "checkpoint-300 8/20"
    assert main(["report", "--run", str(run_dir), "--fail-on", "gold:drop>100"]) == 1
    assert "partial" in (run_dir / "report" / "report.md").read_text()


def test_comparison_uses_only_samples_scored_on_both_sides(run_dir):
    store = run_dir / "results.sqlite"
    _delete_scores(store, "baseline", "reward", keep=12)
    data = build_report_data(run_dir=run_dir, gate_specs=["reward:drop>100"])
    frame = ResultsStore(store, readonly=True).scores_frame("ppo-a")
    frame = frame[(frame["metric"] == "reward")].dropna(subset=["value"])
    both = set(frame.loc[frame["checkpoint"] == "baseline", "sample_id"]) & set(
        frame.loc[frame["checkpoint"] == "checkpoint-300", "sample_id"])
    expect = frame[frame["sample_id"].isin(both)].groupby("checkpoint")["value"].mean()
    row = data.comparison.set_index("metric").loc["reward"]
    assert row["n"] == len(both) == 12
    assert row["baseline"] == pytest.approx(expect["baseline"])
    assert row["checkpoint"] == pytest.approx(expect["checkpoint-300"])
    assert not data.gates[0].passed and "'baseline' is partial" in data.gates[0].message


WRITER = textwrap.dedent("""
    import sqlite3, sys, time, os
    store, stop = sys.argv[1], sys.argv[2]
    con = sqlite3.connect(store, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    rows = con.execute("SELECT sc.* FROM scores sc JOIN generations g ON g.gen_id=sc.gen_id "
                       "WHERE g.checkpoint='checkpoint-300' AND sc.metric='gold'").fetchall()
    cycles = 0
    while not os.path.exists(stop):
        with con:
            con.execute("DELETE FROM scores WHERE metric='gold' AND gen_id IN (SELECT gen_id "
                        "FROM generations WHERE checkpoint='checkpoint-300')")
        for row in rows:  # one transaction per score, as eval writes batches
            with con:
                con.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?)", row)
            time.sleep(0.01)
        cycles += 1
    print(cycles)
""")


def test_report_during_eval_is_consistent_with_itself(run_dir, tmp_path):
    """A writer keeps re-scoring checkpoint-300 (as a running `eval` does) while reports are
    built: each report's gate, comparison table, summary and coverage agree on n, and a
    partial state always fails the gate instead of passing on half the samples."""
    store, stop = run_dir / "results.sqlite", tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    seen = {"partial": 0, "complete": 0}
    try:
        time.sleep(0.3)
        for _ in range(12):
            data = build_report_data(run_dir=run_dir, gate_specs=["gold:drop>100"])
            gate = data.gates[0]
            cov = data.coverage.set_index(["checkpoint", "metric"]).loc[
                ("checkpoint-300", "gold")]
            summ = data.summary[(data.summary["checkpoint"] == "checkpoint-300")
                                & (data.summary["metric"] == "gold")]
            n_summary = int(summ["n"].sum() + summ["n_missing"].sum())
            assert n_summary == cov["n_scored"], (n_summary, cov)  # one snapshot
            row = data.comparison.set_index("metric").loc["gold"]
            if cov["partial"]:
                seen["partial"] += 1
                assert not gate.passed and "partial" in gate.message
                assert row["partial"]
            else:
                seen["complete"] += 1
                assert gate.passed and gate.n == row["n"]
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    assert int(out.strip()) >= 1
    assert seen["partial"] >= 1, seen  # the race was really exercised


def test_failed_checkpoint_fails_the_gate_instead_of_judging_the_previous_one(run_dir, capsys):
    with ResultsStore(run_dir / "results.sqlite") as store:
        store.record_eval_failure("ppo-a", "checkpoint-400", step=400, path="x",
                                  error="cannot load a causal LM: truncated safetensors")
    code = main(["report", "--run", str(run_dir), "--fail-on", "gold:drop>100"])
    assert code == 1
    doc = json.loads((run_dir / "report" / "report.json").read_text())
    assert doc["checkpoint"] == "checkpoint-400" and doc["passed"] is False
    assert "failed to evaluate" in doc["gates"][0]["message"]
    assert doc["failed_checkpoints"][0]["checkpoint"] == "checkpoint-400"
    # judging an explicitly named earlier checkpoint still works
    assert main(["report", "--run", str(run_dir), "--fail-on", "gold:drop>100",
                 "--checkpoint", "checkpoint-300"]) == 0


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rlhf_eval.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_full_disk_during_report_leaves_the_old_report_and_exits_2(run_dir, tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        out = disk / "report"
        first = _cli("report", "--run", str(run_dir), "--out", str(out), "--fail-on",
                     "gold:drop>100")
        assert first.returncode == 0, first.stderr
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        assert set(before) == {"report.md", "report.html", "report.json", "junit.xml"}
        summary = disk / "summary.md"
        earlier = "earlier step: " + "x" * 4000 + "\n"  # near a page end: an append needs a page
        summary.write_text(earlier)
        fill_disk(disk, leave=8192)  # room for report.md, not for report.html
        second = _cli("report", "--run", str(run_dir), "--out", str(out), "--fail-on",
                      "gold:drop>100", "--seed", "1", env={"GITHUB_STEP_SUMMARY": str(summary)})
        assert second.returncode == 2, (second.returncode, second.stderr)
        assert "No space left on device" in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.splitlines()) == 1
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
        assert summary.read_text() == earlier
        # the report fits elsewhere, only the step summary does not: whole or nothing, exit 2
        fill_disk(disk)
        third = _cli("report", "--run", str(run_dir), "--fail-on", "gold:drop>100",
                     env={"GITHUB_STEP_SUMMARY": str(summary)})
        assert third.returncode == 2 and "nothing was appended" in third.stderr, third.stderr
        assert summary.read_text() == earlier
