"""`rlhf-eval demo --fast`: the whole loop end to end, then a re-run that skips every stage.

Slow by nature (it trains an SFT policy, an RM and a few PPO steps): the one test that proves
the stages fit together through their real command lines.
"""
import json
import sqlite3
from pathlib import Path

import pytest

from rlhf_eval.demo import DemoConfig, run_demo, stages

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
