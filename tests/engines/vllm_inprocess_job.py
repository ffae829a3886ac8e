"""Run by the engine tests with .venv-vllm's python: the in-process ``vllm`` engine through the
suite (baseline + 3 LoRA checkpoints, one base load) and its option log-probs; prints JSON."""
from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys


def main(world_json: str, store: str, out_path: str) -> None:
    from rlhf_eval.evaluation.suite import EvalConfig, Suite
    from rlhf_eval.lm.engines import ModelRef, get_engine
    from rlhf_eval.models import load_tokenizer

    world = json.loads(world_json)
    cfg = EvalConfig(checkpoints=tuple(world["loras"]), baseline_model=world["sft"],
                     prompts=world["prompts"], store=store, run_name="vllm",
                     metrics=("length",), judges=(), max_new_tokens=world["max_new"],
                     batch_size=16, progress=False, engine="vllm",
                     engine_options={"llm_kwargs": {"max_model_len": 256, "max_lora_rank": 8}})
    suite = Suite(cfg)
    try:
        report = dataclasses.asdict(suite.run_once())
        # option log-probs (the judges' interface): vLLM's prompt_logprobs on the base,
        # restarted without LoRA (see VLLMEngine.score_options) vs the hf forward pass
        tok = load_tokenizer(world["sft"], require_pad=True)
        ref = ModelRef("sft", world["sft"], None, tok)
        prompts = [s["prompt"] for s in world["samples"][:3]]
        options = [[" yes", " no", " the answer"]] * 3
        lp_vllm = suite.engine.score_options(ref, prompts, options)
        # an LLM judge on the same running engine (issue 17): option log-probs of both orders
        judged_vllm = judge_probs(suite.engine, world)
        report["base_loads_after_scoring"] = suite.engine.base_loads
    finally:
        suite.close()
    with sqlite3.connect(store) as c:
        rows = c.execute("SELECT checkpoint, sample_id, completion, n_tokens, gen_signature "
                         "FROM generations WHERE checkpoint != 'references'").fetchall()
    with get_engine("hf", device="cpu") as eng:
        lp_hf = eng.score_options(ref, prompts, options)
    from rlhf_eval.evaluation.judges.engine import make_engine

    judged_hf = judge_probs(make_engine("hf", world["sft"], device="cpu"), world)
    # a judge's own vllm engine, started fresh (LoRA off for prompt log-probs from the start)
    fresh = make_engine("vllm", world["sft"],
                        engine_options={"llm_kwargs": {"max_model_len": 256}})
    try:
        judged_fresh = judge_probs(fresh, world)
    finally:
        fresh.close()
    json.dump({"report": report, "rows": rows, "lp_vllm": lp_vllm, "lp_hf": lp_hf,
               "judged_vllm": judged_vllm, "judged_hf": judged_hf,
               "judged_fresh": judged_fresh}, open(out_path, "w"))


# short enough for the tiny model's 256-token context
JUDGE_TEMPLATE = "{instruction}\nA: {response_first}\nB: {response_second}\nBetter:"


def judge_probs(engine, world) -> list:
    """Pairwise log-prob verdicts on 6 lab prompts: engine = a running vllm engine (through
    LMEngineJudge) or the hf judge engine; per item (p_a, p_b, p_tie, verdict)."""
    from rlhf_eval.evaluation.judges.engine import LMEngineJudge
    from rlhf_eval.evaluation.judges.llm import JudgeSettings, PairItem, PairwiseJudge
    from rlhf_eval.evaluation.judges.templates import Template

    if engine.name == "vllm" and not isinstance(engine, LMEngineJudge):
        engine = LMEngineJudge(engine, world["sft"])   # the suite's running engine
    template = Template("tiny", "pairwise", JUDGE_TEMPLATE, ("A", "B", "C"))
    texts = [s["prompt"] for s in world["samples"]]
    items = [PairItem(f"i{k}", texts[k], texts[k + 1][-40:], texts[k + 2][:30])
             for k in range(6)]
    judge = PairwiseJudge(engine, template, JudgeSettings(mode="logprobs", max_field_chars=60))
    frame = judge.judge(items)
    return frame[["p_a", "p_b", "p_tie", "verdict"]].values.tolist()


if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    main(*sys.argv[1:])
