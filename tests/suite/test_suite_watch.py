"""--watch: new checkpoints are evaluated as they appear; Ctrl-C (KeyboardInterrupt) stops it."""
from __future__ import annotations

import shutil

from suite_helpers import N_PROMPTS, eval_kwargs, fresh_run
from rlhf_eval.config import load_config
from rlhf_eval.evaluation import suite as suite_mod
from rlhf_eval.store import ResultsStore


def test_watch_picks_up_new_checkpoints_until_interrupted(evaluated, tiny_world, tmp_path,
                                                          monkeypatch):
    run = fresh_run({"run": evaluated["run"]}, tmp_path / "run")
    polls = []

    def fake_sleep(seconds):
        # the trainer publishes a checkpoint while the suite waits, then the user hits Ctrl-C
        polls.append(seconds)
        if len(polls) == 1:
            (run / "checkpoint-25.tmp").mkdir()  # still being written: must be skipped
            shutil.copytree(run / "checkpoint-20", run / "checkpoint-25")
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(suite_mod.time, "sleep", fake_sleep)
    cfg = load_config(suite_mod.EvalConfig, None, {**eval_kwargs(tiny_world), "run": str(run),
                                                   "metrics": ["length", "kl"], "watch": True,
                                                   "poll_seconds": 7.0})
    suite = suite_mod.Suite(cfg)
    try:
        report = suite.watch()
    finally:
        suite.close()
    assert polls == [7.0, 7.0]
    assert report.models_loaded == 1 and report.generated == N_PROMPTS  # only the new one
    assert "checkpoint-25" in report.checkpoints
    s = ResultsStore(run / "results.sqlite", readonly=True)
    assert "checkpoint-25" in set(s.checkpoints()["checkpoint"])
    assert "checkpoint-25.tmp" not in set(s.checkpoints()["checkpoint"])
    kl = s.scores_frame().query("metric == 'kl'")
    # a copy of checkpoint-20 has the same weights hash -> the same completions and KL
    a = kl[kl.checkpoint == "checkpoint-25"].set_index("sample_id")["value"]
    b = kl[kl.checkpoint == "checkpoint-20"].set_index("sample_id")["value"]
    assert (a.sort_index() == b.sort_index()).all()
