"""The dashboard's Samples page shows each LLM judge's answers in both orders."""
import sys
from pathlib import Path

from judge_helpers import ScriptedEngine

from rlhf_eval.evaluation.judges import runs as jr
from rlhf_eval.evaluation.judges.llm import PairwiseJudge
from rlhf_eval.evaluation.judges.templates import load_template
from rlhf_eval.store import open_store
from rlhf_eval.testing import fixture_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))


def test_samples_page_shows_both_orders(tmp_path):
    from dashboard_helpers import app_test

    path = fixture_store(tmp_path / "run", runs=("ppo-a",))
    store = open_store(path)
    judge = PairwiseJudge(ScriptedEngine(), load_template("pairwise"), name="llm:scripted")
    pairs = [(f"checkpoint-{s}", "baseline") for s in (100, 200, 300)]
    jr.llm_winrates(judge, store.generations("ppo-a"), run="ppo-a", pairs=pairs, store=store,
                    n_resamples=20)
    store.close()
    at = app_test(path, "samples", timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert "LLM judges, both orders" in [h.value for h in at.subheader]
    frame = at.dataframe[-1].value
    assert set(frame["shown first"]) == {"baseline", "checkpoint-300"}
    assert set(frame["answer"]) <= {"A", "B", "C"} and len(frame) == 2


def test_judges_page_bias_report_and_agreement(tmp_path):
    from dashboard_helpers import app_test

    path = fixture_store(tmp_path / "run", runs=("ppo-a",))
    at = app_test(path, "judges", timeout=120)
    assert not at.exception and "rlhf-eval winrate" in " ".join(i.value for i in at.info)
    store = open_store(path)
    judge = PairwiseJudge(ScriptedEngine(first_bias=0.3), load_template("pairwise"))
    jr.llm_winrates(judge, store.generations("ppo-a"), run="ppo-a",
                    pairs=[("checkpoint-300", "baseline")], store=store, n_resamples=20)
    store.close()
    at = app_test(path, "judges", timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    bias = at.dataframe[0].value.set_index("figure")
    # the scripted judge's pull to the first position is strong: every order picks 'first'
    assert bias.loc["first_position_win_rate", "estimate"] == 1.0
    assert any("position bias" in w.value for w in at.warning)
    # the fixture's pairwise labels compare baseline and checkpoint-300 generations
    assert len(at.dataframe) == 2 and "agreement" in at.dataframe[1].value.columns
