"""Run by the engine tests with .venv-vllm's python: the in-process ``vllm`` engine through the
suite (baseline + 3 LoRA checkpoints, one base load) and its option log-probs; prints JSON."""
from __future__ import annotations

import json
import sqlite3
import sys


def main(world_json: str, store: str, out_path: str) -> None:
    import rlhf_eval
    from rlhf_eval.lm.engines import ModelRef, get_engine
    from rlhf_eval.models import load_tokenizer

    world = json.loads(world_json)
    llm_kwargs = {"max_model_len": 256, "max_lora_rank": 8}
    df = rlhf_eval.evaluate(
        checkpoints=tuple(world["loras"]), baseline_model=world["sft"],
        prompts=world["prompts"], store=store, run_name="vllm", metrics=("length",),
        judges=(), max_new_tokens=world["max_new"], batch_size=16, progress=False,
        engine="vllm", engine_options={"llm_kwargs": llm_kwargs})
    report = df.attrs["report"]
    with sqlite3.connect(store) as c:
        rows = c.execute("SELECT checkpoint, sample_id, completion, n_tokens, gen_signature "
                         "FROM generations WHERE checkpoint != 'references'").fetchall()
    # option log-probs (the judges' interface), vLLM's prompt_logprobs vs the hf forward pass
    tok = load_tokenizer(world["sft"], require_pad=True)
    ref = ModelRef("sft", world["sft"], None, tok)
    prompts = [s["prompt"] for s in world["samples"][:3]]
    options = [[" yes", " no", " the answer"]] * 3
    with get_engine("vllm", llm_kwargs={"max_model_len": 256, "enable_lora": False}) as eng:
        lp_vllm = eng.score_options(ref, prompts, options)
    with get_engine("hf", device="cpu") as eng:
        lp_hf = eng.score_options(ref, prompts, options)
    json.dump({"report": report, "rows": rows, "lp_vllm": lp_vllm, "lp_hf": lp_hf},
              open(out_path, "w"))


if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    main(*sys.argv[1:])
