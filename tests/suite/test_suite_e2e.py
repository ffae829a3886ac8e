"""The suite end to end on a tiny run: every metric for every checkpoint, win-rates with
intervals, KL; re-runs do no work; scores equal the libraries called directly."""
from __future__ import annotations

import numpy as np
import pytest

from suite_helpers import N_PROMPTS, eval_kwargs
from rlhf_eval.store import BASELINE, REFERENCES, ResultsStore

CHECKPOINTS = [BASELINE, "checkpoint-10", "checkpoint-20", "checkpoint-30"]
REF_FREE = {"reward", "gold", "gold_coverage", "gold_invented", "gold_brevity", "length",
            "length_chars", "distinct_1", "distinct_2", "rep_2", "rep_4"}
REF_BASED = {"rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf"}


def test_store_has_every_metric_for_every_checkpoint(evaluated):
    s = ResultsStore(evaluated["store"], readonly=True)
    ck = s.checkpoints()
    # the .tmp folder (a save in flight) is ignored; the peft adapters (checkpoint-30) load
    assert set(ck["checkpoint"]) == set(CHECKPOINTS) | {REFERENCES}
    df = s.scores_frame()
    for name in CHECKPOINTS:
        got = df[df["checkpoint"] == name]
        assert set(got["metric"]) == REF_FREE | REF_BASED | {"kl"}, name
        assert (got.groupby("metric")["sample_id"].nunique() == N_PROMPTS).all(), name
        assert len(got) == got[["sample_id", "metric"]].drop_duplicates().shape[0]
    refs = df[df["checkpoint"] == REFERENCES]
    assert set(refs["metric"]) == REF_FREE  # never ROUGE of a reference against itself
    # the lab references are the ideal summaries: full coverage, nothing invented
    assert refs.query("metric == 'gold_coverage'")["value"].eq(1.0).all()
    # KL of the baseline against itself (ref_model == policy_init) is exactly 0
    assert df.query("checkpoint == @BASELINE and metric == 'kl'")["value"].eq(0.0).all()
    assert df.query("checkpoint == 'checkpoint-20' and metric == 'kl'")["value"].abs().max() > 0


def test_winrates_with_intervals_and_strengths(evaluated):
    s = ResultsStore(evaluated["store"], readonly=True)
    wr = s.winrates()
    for judge in ("reward", "gold", "rougeL", "bleu", "chrf"):
        sub = wr[wr["judge"] == judge]
        assert set(sub["checkpoint"]) == set(CHECKPOINTS[1:]), judge
        assert (sub["baseline"] == BASELINE).all()
    assert ((wr["ci_low"] <= wr["winrate"]) & (wr["winrate"] <= wr["ci_high"])).all()
    assert (wr["wins"] + wr["ties"] + wr["losses"] == N_PROMPTS).all()
    # the stored win-rate is the hand count from the stored scores
    df = s.scores_frame()
    r = df[df["metric"] == "reward"].pivot(index="sample_id", columns="checkpoint",
                                           values="value")
    row = wr.query("judge == 'reward' and checkpoint == 'checkpoint-20'").iloc[0]
    a, b = r["checkpoint-20"], r[BASELINE]
    assert row["wins"] == (a > b).sum() and row["losses"] == (a < b).sum()
    assert row["winrate"] == pytest.approx(((a > b).sum() + 0.5 * (a == b).sum()) / N_PROMPTS)
    st = s.strengths()
    assert set(st["judge"]) >= {"reward", "gold"}
    assert (st.query("checkpoint == @BASELINE")["strength"] == 0).all()


def test_rerun_does_no_new_work(evaluated, tiny_world):
    import rlhf_eval

    s = ResultsStore(evaluated["store"], readonly=True)
    counts = {t: s.count(t) for t in ("generations", "scores", "samples", "checkpoints")}
    from rlhf_eval.evaluation.suite import EvalConfig

    kw = {**eval_kwargs(tiny_world), "metrics": tuple(eval_kwargs(tiny_world)["metrics"])}
    df = rlhf_eval.evaluate(config=EvalConfig(run=str(evaluated["run"]), **kw))
    rep = df.attrs["report"]
    assert (rep["generated"], rep["scores_written"], rep["models_loaded"]) == (0, 0, 0)
    assert {t: s.count(t) for t in counts} == counts
    assert evaluated["report"]["generated"] == 4 * N_PROMPTS  # the first run did the work
    # a new metric setting is new work for that metric only, not for generation
    df = rlhf_eval.evaluate(evaluated["run"], **{**eval_kwargs(tiny_world),
                                                 "metrics": ["bleu"],
                                                 "metric_options": {"bleu": {"lowercase": True}}})
    rep = df.attrs["report"]
    assert rep["generated"] == 0 and rep["models_loaded"] == 0
    assert rep["scores_written"] == 4 * N_PROMPTS


def test_scores_equal_the_libraries(evaluated):
    import sacrebleu
    from rouge_score import rouge_scorer

    s = ResultsStore(evaluated["store"], readonly=True)
    from rlhf_eval.evaluation.metrics import get_metric

    df = s.scores_frame(latest_signature=False)
    # another test adds a lowercased BLEU; compare the default one
    df = df[(df["metric"] != "bleu") | (df["signature"] == get_metric("bleu").signature())]
    rs = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    n_nonzero = 0
    for (ck, sid), grp in df[df["checkpoint"] != REFERENCES].groupby(["checkpoint",
                                                                      "sample_id"]):
        v = dict(zip(grp["metric"], grp["value"]))
        pred, refs = grp["completion"].iloc[0], grp["references"].iloc[0]
        lib = rs.score(refs[0], pred)
        for k in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            assert v[k] == pytest.approx(lib[k].fmeasure, abs=1e-6), (ck, sid, k)
        bleu = sacrebleu.sentence_bleu(pred, refs).score
        chrf = sacrebleu.sentence_chrf(pred, refs).score
        assert v["bleu"] == pytest.approx(bleu, abs=1e-6)
        assert v["chrf"] == pytest.approx(chrf, abs=1e-6)
        n_nonzero += v["chrf"] > 0
    assert n_nonzero > 0  # the comparison is not all zeros


def test_kl_matches_an_independent_computation(evaluated, tiny_world):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    s = ResultsStore(evaluated["store"], readonly=True)
    df = s.scores_frame().query("checkpoint == 'checkpoint-20' and metric == 'kl'")
    path = evaluated["run"] / "checkpoint-20"
    tok = AutoTokenizer.from_pretrained(path)
    pol = AutoModelForCausalLM.from_pretrained(path).eval()
    ref = AutoModelForCausalLM.from_pretrained(tiny_world["sft"]).eval()
    for prompt, completion, value in zip(df["prompt"], df["completion"], df["value"]):
        q = tok(prompt)["input_ids"]
        q = (q[:-1] if q and q[-1] == tok.eos_token_id else q)[-64:]
        c = tok(completion, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([q + c])  # one unpadded row: no batching, no masks
        total = 0.0
        with torch.no_grad():
            lp = torch.log_softmax(pol(ids).logits[0].double(), -1)
            lr = torch.log_softmax(ref(ids).logits[0].double(), -1)
        for t in range(len(q), len(q) + len(c)):
            total += float(lp[t - 1, ids[0, t]] - lr[t - 1, ids[0, t]])
        # batched, left-padded fp32 forward vs one unpadded row: rounding only
        assert value == pytest.approx(total, abs=1e-4), completion


def test_generation_is_seeded_per_sample_not_per_batch(tiny_world):
    from rlhf_eval.lm.generate import GenerationSettings, generate_batch
    from rlhf_eval.models import load_causal_lm, load_tokenizer

    model = load_causal_lm(tiny_world["sft"])
    tok = load_tokenizer(tiny_world["sft"], require_pad=True)
    samples = tiny_world["samples"][:3]
    # prompts of different lengths, so a batch really is left-padded
    prompts = [s.prompt[-(150 + 60 * i):] for i, s in enumerate(samples)]
    ids = [f"id{i}" for i in range(3)]
    runs = {}
    for sample in (True, False):
        cfg = GenerationSettings(max_new_tokens=6, do_sample=sample, temperature=1.0,
                                 max_prompt_tokens=64, seed=5)
        together = generate_batch(model, tok, prompts, ids, cfg, "cpu")
        alone = [generate_batch(model, tok, [p], [i], cfg, "cpu")[0]
                 for p, i in zip(prompts, ids)]
        reordered = generate_batch(model, tok, prompts[::-1], ids[::-1], cfg, "cpu")[::-1]
        assert together == alone == reordered
        assert all(0 <= n <= 6 for _, n in together)
        runs[sample] = together
    other_seed = GenerationSettings(max_new_tokens=6, do_sample=True, max_prompt_tokens=64,
                                    seed=6)
    assert generate_batch(model, tok, prompts, ids, other_seed, "cpu") != runs[True]


def test_rlhf_eval_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, rlhf_eval; assert callable(rlhf_eval.__getattr__); "
            "print(any(m in sys.modules for m in ('torch', 'pandas', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("baseline, expected", [
    ("previous", {("checkpoint-10", BASELINE), ("checkpoint-20", "checkpoint-10"),
                  ("checkpoint-30", "checkpoint-20")}),
    ("references", {("checkpoint-10", REFERENCES), ("checkpoint-20", REFERENCES),
                    ("checkpoint-30", REFERENCES)}),
])
def test_other_baselines(evaluated, tiny_world, tmp_path, baseline, expected):
    import rlhf_eval
    from suite_helpers import fresh_run

    run = fresh_run({"run": evaluated["run"]}, tmp_path / "run")
    df = rlhf_eval.evaluate(run, **{**eval_kwargs(tiny_world), "baseline": baseline,
                                    "tie_policy": "exclude"})
    assert df.attrs["report"]["models_loaded"] == 0
    wr = ResultsStore(run / "results.sqlite", readonly=True).winrates()
    wr = wr[wr["tie_policy"] == "exclude"]
    assert set(zip(wr["checkpoint"], wr["baseline"])) == expected
    if baseline == "references":  # only reference-free judges can compare with a reference
        assert set(wr["judge"]) == {"reward", "gold"}
    assert (wr["n"] == wr["wins"] + wr["losses"]).all()  # ties excluded


def test_long_prompts_are_cut_to_the_models_positions(tiny_world):
    from rlhf_eval.lm.generate import GenerationSettings, generate_batch
    from rlhf_eval.lm.logprobs import completion_logprobs
    from rlhf_eval.models import load_causal_lm, load_tokenizer

    model = load_causal_lm(tiny_world["sft"])  # 256 positions
    tok = load_tokenizer(tiny_world["sft"], require_pad=True)
    long_prompt = " ".join(s.prompt for s in tiny_world["samples"]) * 2
    assert len(tok(long_prompt)["input_ids"]) > 400
    cfg = GenerationSettings(max_new_tokens=6, max_prompt_tokens=1024)
    (text, n), = generate_batch(model, tok, [long_prompt], ["x"], cfg, "cpu")
    lp, = completion_logprobs(model, tok, [long_prompt], [text or "a"], max_prompt_tokens=1024,
                              batch_size=1, device="cpu")
    assert np.isfinite(lp).all() and len(lp) == len(tok(text or "a",
                                                        add_special_tokens=False)["input_ids"])
