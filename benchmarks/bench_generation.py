"""Eval-generation throughput (completions/s): the ``hf`` engine vs in-process ``vllm`` vs
``openai`` against ``vllm serve``; same prompts, same tiny model, same settings (greedy, fp32,
``--max-new`` new tokens, prompts <= 256 tokens). Each engine generates all prompts
``--repeats`` times after start-up; the median wall time gives completions/s. Start-up (model
load; for the server, process start until ``/v1/models`` answers) is reported separately.

Needs vLLM (``make vllm-env``); run with that environment's python:
  .venv-vllm/bin/python benchmarks/bench_generation.py [--prompts 100] [--max-new 48]
      [--repeats 3] [--model DIR] [--quick]  # default: a tiny Llama built here (2 layers, 128 wide)
The hf engine runs with the threads torch is given (OMP_NUM_THREADS); vLLM's CPU build binds
its worker to the cores it finds (here: 1 compute core, 1 reserved).
The last lines printed are the ratios (vllm / hf, openai / hf).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engines"))


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--max-new", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16, help="hf batch")
    ap.add_argument("--concurrency", type=int, default=32, help="openai requests in flight")
    ap.add_argument("--model", help="a local causal LM folder (default: built here)")
    ap.add_argument("--quick", action="store_true", help="20 prompts x 16 tokens")
    args = ap.parse_args()
    if args.quick:
        args.prompts, args.max_new = 20, 16

    from engine_helpers import VLLMServer, build_world
    from rlhf_eval.lm.generate import GenerationSettings
    from rlhf_eval.lm.engines import ModelRef, get_engine
    from rlhf_eval.models import load_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="bench_generation_"))
    world = build_world(tmp, n_prompts=args.prompts)
    model = args.model or world["sft"]
    tok = load_tokenizer(model, require_pad=True)
    prompts = [s.prompt for s in world["samples"]]
    ids = [f"s{k}" for k in range(len(prompts))]
    n = len(prompts)
    settings = GenerationSettings(max_new_tokens=args.max_new, batch_size=args.batch_size,
                                  max_prompt_tokens=256 - args.max_new)
    ref = ModelRef("m", model, None, tok)
    rate, startup = {}, {}

    eng = get_engine("hf", device="cpu")
    t0 = time.perf_counter()
    eng.loader.load(model)
    startup["hf"] = time.perf_counter() - t0

    def run_hf():
        for k in range(0, n, args.batch_size):
            eng.generate(ref, prompts[k:k + args.batch_size], ids[k:k + args.batch_size],
                         settings)

    rate["hf"] = n / _timed(run_hf, args.repeats)
    eng.close()

    eng = get_engine("vllm", llm_kwargs={"max_model_len": 256, "enable_lora": False})
    t0 = time.perf_counter()
    eng.generate(ref, prompts[:1], ids[:1], settings)   # starts vllm.LLM
    startup["vllm"] = time.perf_counter() - t0
    rate["vllm"] = n / _timed(lambda: eng.generate(ref, prompts, ids, settings), args.repeats)
    eng.close()

    server = VLLMServer(model, tmp / "server.log")
    startup["openai"] = server.startup_s
    try:
        with get_engine("openai", base_url=server.url, concurrency=args.concurrency) as eng:
            sref = ModelRef("m", model, None, tok)
            eng.check(sref)
            eng.generate(sref, prompts[:1], ids[:1], settings)  # first request: warm-up
            rate["openai"] = n / _timed(lambda: eng.generate(sref, prompts, ids, settings),
                                        args.repeats)
    finally:
        server.stop()

    print(f"{n} prompts x {args.max_new} new tokens, greedy, fp32, median of {args.repeats}")
    for name in ("hf", "vllm", "openai"):
        print(f"  {name:7s} start-up {startup[name]:7.1f} s   {rate[name]:8.1f} completions/s")
    print(f"ratio vllm/hf:   {rate['vllm'] / rate['hf']:.2f}")
    print(f"ratio openai/hf: {rate['openai'] / rate['hf']:.2f}")


if __name__ == "__main__":  # vLLM spawns worker processes
    main()
