"""End to end with a real instruct model: SmolLM2-135M-Instruct through the hf engine.

SmolLM2-135M is a weak judge with a strong position bias: these tests check that the judging
machinery runs on a real model (both orders, log-probs equal to a plain forward, parse mode,
the cache) and that the bias report FLAGS that judge, not that it judges well.
Measured here (2 shared cores, load average ~12): 51 s for the three tests' calls plus the
model load (3-60 s depending on the load); most of it the forwards.
"""
import numpy as np
import pytest

from rlhf_eval.evaluation.judges.llm import JudgeSettings, PairItem, PairwiseJudge
from rlhf_eval.evaluation.judges.stats import bias_report
from rlhf_eval.evaluation.judges.templates import load_template
from rlhf_eval.store import ResultsStore

pytestmark = pytest.mark.slow  # loads a 135M-parameter model and runs ~16 forwards on CPU

# easy pairs, the better answer first in half of them
ITEMS = [PairItem("1", "What is the capital of France?", "Paris.", "Berlin."),
         PairItem("2", "What is 2 + 2?", "5.", "4."),
         PairItem("3", "Name a fruit.", "A banana.", "A car."),
         PairItem("4", "What colour is the sky on a clear day?", "Green.", "Blue."),
         PairItem("5", "How many legs does a dog have?", "Four.", "Seven."),
         PairItem("6", "What do bees make?", "Steel.", "Honey.")]


@pytest.fixture(scope="module")
def engine():
    import torch

    from rlhf_eval.evaluation.judges.engine import make_engine

    torch.set_num_threads(1)
    return make_engine("hf", "smollm2", batch_size=6)


def test_smollm2_pairwise_both_orders_cached_and_flagged(engine, tmp_path):
    store = ResultsStore(tmp_path / "j.sqlite")
    judge = PairwiseJudge(engine, load_template("pairwise"), JudgeSettings(mode="logprobs"))
    df = judge.judge(ITEMS, store=store)
    assert judge.model_calls == 2 * len(ITEMS) and store.count("judgments") == 2 * len(ITEMS)
    assert np.allclose(df["p_a"] + df["p_b"] + df["p_tie"], 1.0)
    assert df["verdict"].isin(["a", "b", "tie"]).all()
    # a re-run with a new judge object answers everything from the store
    again = PairwiseJudge(engine, load_template("pairwise"), JudgeSettings(mode="logprobs"))
    df2 = again.judge(ITEMS, store=store)
    assert again.model_calls == 0
    assert np.array_equal(df2["p_a"].to_numpy(), df["p_a"].to_numpy())
    rep = bias_report(df["first_ab"], df["first_ba"], df["verdict"], df["len_a"], df["len_b"],
                      n_resamples=200)
    print("SmolLM2 bias report:", {k: rep[k] for k in ("flip_rate", "first_position_win_rate")},
          rep["flags"])
    # the weak judge answers by position, and the report says so
    assert rep["flip_rate"]["estimate"] >= 0.5
    assert any(f.startswith(("position bias", "order-inconsistent")) for f in rep["flags"])


def test_option_logprobs_do_not_depend_on_the_batch(engine):
    import torch

    template = load_template("pairwise")
    prompts = [template.render(instruction=i.instruction, response_first=i.a,
                               response_second=i.b) for i in ITEMS[:2]]
    batched = engine.option_logprobs(prompts, ["A", "B", "C"])
    # independent computation: one unpadded forward per prompt, plain log_softmax
    tok, model = engine.tokenizer, engine.model
    ids = [tok.convert_tokens_to_ids(t) for t in ("A", "B", "C")]
    for row, p in zip(batched, prompts):
        x = tok(engine.render(p), add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            lp = torch.log_softmax(model(**x).logits[0, -1].float(), -1)[ids].numpy()
        np.testing.assert_allclose(row, lp, atol=2e-4)


def test_smollm2_parse_mode_counts_failures(engine):
    judge = PairwiseJudge(engine, load_template("pairwise"),
                          JudgeSettings(mode="parse", max_new_tokens=6))
    df = judge.judge(ITEMS[:2])
    assert judge.model_calls == 4
    for first, raw in zip(list(df["first_ab"]) + list(df["first_ba"]),
                          list(df["raw_ab"]) + list(df["raw_ba"])):
        assert isinstance(raw, str)
        assert (first is None) == (judge.template.parse(raw) is None)
    rep = bias_report(df["first_ab"], df["first_ba"], df["verdict"], df["len_a"], df["len_b"],
                      n_resamples=50)
    assert rep["parse_failures"] == sum(x is None for x in list(df["first_ab"]) +
                                        list(df["first_ba"]))


def test_smollm2_pointwise_scores(engine):
    from rlhf_eval.evaluation.judges.llm import PointwiseJudge

    judge = PointwiseJudge(engine, load_template("pointwise"))
    scores = judge.score(["What is the capital of France?"] * 2, ["Paris.", "Berlin."])
    # the probability-weighted label of 1..5: defined and inside the scale (not a quality claim)
    assert np.all((scores >= 1) & (scores <= 5)) and judge.model_calls == 2
