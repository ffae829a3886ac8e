"""The model-based metrics in the evaluation suite: scored for every checkpoint, stored with
their signature and direction, and skipped on a re-run (tiny LM + MiniLM: ~10 s)."""
from __future__ import annotations

import shutil

from suite_helpers import N_PROMPTS, eval_kwargs
from rlhf_eval.store import BASELINE, REFERENCES, ResultsStore

CHECKPOINTS = [BASELINE, "checkpoint-10", "checkpoint-20", "checkpoint-30"]


def test_gptscore_bartscore_moverscore_in_the_suite(evaluated, tiny_world, tmp_path):
    import rlhf_eval

    run = tmp_path / "run"
    shutil.copytree(evaluated["run"], run)  # generations done: only the new metrics run
    kw = {**eval_kwargs(tiny_world), "metrics": ["gptscore", "bartscore", "moverscore"],
          "judges": ("gptscore", "moverscore"),
          "metric_options": {"gptscore": {"model": tiny_world["sft"]},
                             "bartscore": {"model": tiny_world["sft"],
                                           "direction": "ref->hyp"}}}
    df = rlhf_eval.evaluate(run, **kw)
    rep = df.attrs["report"]
    assert rep["generated"] == 0 and rep["scores_written"] > 0
    s = ResultsStore(df.attrs["store"], readonly=True)
    scores = s.scores_frame()
    new = {"gptscore", "bartscore_p", "moverscore"}
    for ck in CHECKPOINTS:
        got = scores[(scores["checkpoint"] == ck) & scores["metric"].isin(new)]
        assert set(got["metric"]) == new, ck
        assert (got.groupby("metric")["sample_id"].nunique() == N_PROMPTS).all()
        assert (got.query("metric != 'moverscore'")["value"] < 0).all()  # log-probs
    refs = scores[scores["checkpoint"] == REFERENCES]
    assert "gptscore" in set(refs["metric"]) and "moverscore" not in set(refs["metric"])
    sig = scores.query("metric == 'gptscore'")["signature"].iloc[0]
    assert sig.startswith("gptscore|model=") and "direction=src->hyp" in sig
    wr = s.winrates()
    assert {"gptscore", "moverscore"} <= set(wr["judge"])  # a direction, so usable as judges
    again = rlhf_eval.evaluate(run, **kw).attrs["report"]
    assert (again["generated"], again["scores_written"]) == (0, 0)
