"""Where one PPO update of bench_ppo.py's setting spends its time (ours): phases and top ops.

    .venv/bin/python benchmarks/profile_ppo.py [--layers 2 --width 128] [--threads 1]

Runs 2 warm-up updates, then times rollout / advantages / update of 3 updates with
perf_counter and profiles one more with torch.profiler (CPU ops sorted by self time).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ppo as bp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                              AutoTokenizer)

    from rlhf_eval.training.ppo import PPOTrainer
    from rlhf_eval.training.ppo_config import PPOConfig

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bp.build_models(folder, args.layers, args.width)
        tok = AutoTokenizer.from_pretrained(folder / "policy")
        prompts = json.loads((folder / "prompts.json").read_text())
        cfg = PPOConfig(steps=8, batch_size=bp.BATCH, num_minibatches=1, ppo_epochs=bp.EPOCHS,
                        max_new_tokens=bp.NEW_TOKENS, learning_rate=bp.LR,
                        temperature=bp.TEMP, max_grad_norm=None, missing_eos_penalty=1.0,
                        kl_coef=0.05, max_prompt_length=64, save_every=10_000)
        trainer = PPOTrainer(
            cfg, policy=AutoModelForCausalLM.from_pretrained(folder / "policy"), tokenizer=tok,
            prompts=prompts, run_dir=str(folder / "run"), progress=False,
            reward_model=AutoModelForSequenceClassification.from_pretrained(folder / "reward"),
            reward_tokenizer=tok,
            ref_model=AutoModelForCausalLM.from_pretrained(folder / "ref"),
            value_model=AutoModelForSequenceClassification.from_pretrained(folder / "value"))
        phases: dict[str, list[float]] = {}

        def timed(name, fn):
            def wrapper(*a, **k):
                t = time.perf_counter()
                out = fn(*a, **k)
                phases.setdefault(name, []).append(time.perf_counter() - t)
                return out
            return wrapper

        for name in ("rollout", "advantages", "update"):
            setattr(trainer, name, timed(name, getattr(trainer, name)))
        for step in (1, 2):
            trainer.train_step(step)
        phases.clear()
        for step in (3, 4, 5):
            trainer.train_step(step)
        print(f"{args.layers} layers x {args.width}, {args.threads} thread(s); seconds per "
              "phase (median of 3 updates):")
        for name, ts in phases.items():
            print(f"  {name:10s} {sorted(ts)[1]:.3f}")
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                    with_flops=True) as prof:
            trainer.train_step(6)
        events = prof.key_averages()
        print(events.table(sort_by="self_cpu_time_total", row_limit=18))
        gemm = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
        flops = sum(e.flops for e in events if e.key in gemm)
        gemm_s = sum(e.self_cpu_time_total for e in events if e.key in gemm) / 1e6
        total_s = sum(e.self_cpu_time_total for e in events) / 1e6
        rate = _matmul_rate(torch)
        print(f"matrix products: {flops / 1e9:.1f} GFLOP in {gemm_s:.2f} s of {total_s:.2f} s "
              f"profiled CPU time ({gemm_s / total_s:.0%}); this CPU's fp32 matmul rate "
              f"(1024^2, {args.threads} thread(s)): {rate / 1e9:.0f} GFLOP/s, so the products "
              f"alone need >= {flops / rate:.2f} s per update, i.e. <= "
              f"{bp.BATCH * rate / flops:.1f} episodes/s")


def _matmul_rate(torch) -> float:
    """Best-of-5 FLOP/s of a 1024 x 1024 fp32 matrix product (an upper bound for the smaller,
    less efficient products of the update)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * 1024 ** 3 / best


if __name__ == "__main__":
    main()
