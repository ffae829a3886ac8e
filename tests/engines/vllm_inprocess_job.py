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
        report["base_loads_after_scoring"] = suite.engine.base_loads
    finally:
        suite.close()
    with sqlite3.connect(store) as c:
        rows = c.execute("SELECT checkpoint, sample_id, completion, n_tokens, gen_signature "
                         "FROM generations WHERE checkpoint != 'references'").fetchall()
    with get_engine("hf", device="cpu") as eng:
        lp_hf = eng.score_options(ref, prompts, options)
    json.dump({"report": report, "rows": rows, "lp_vllm": lp_vllm, "lp_hf": lp_hf},
              open(out_path, "w"))


if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    main(*sys.argv[1:])
