"""PPO throughput: rlhf-eval's PPOTrainer vs TRL 1.12.0's trl.experimental.ppo.PPOTrainer.

Same run for both: four GPT-2 models built here (policy, reference, value, reward; 2 layers,
128 wide, ~1.5M parameters each by default), 16 prompts per update (<= 64 tokens), 24 new
tokens, 4 PPO epochs of one minibatch, fp32, temperature 0.7, no gradient clipping (TRL never
clips), EOS truncation on. Each peer runs in its own process (TRL in its own venv, see below),
alternating, ``--repeats`` times; the first ``--warmup`` updates of every run are excluded;
episodes/s is 16 / (wall time of one update), median over updates, then median over repeats.
Peak memory is the process's peak RSS (ru_maxrss), which is what the OS has to provide.

Set up the peer once (torch FIRST, or pip pulls a CUDA torch):
  python3 -m venv .venv-trl112 && .venv-trl112/bin/pip install torch==2.13.0 \\
      && .venv-trl112/bin/pip install trl==1.12.0
Run:
  .venv/bin/python benchmarks/bench_ppo.py [--repeats 3] [--updates 8] [--threads 1]
  .venv/bin/python benchmarks/bench_ppo.py --layers 6 --width 512 --peers ours,ours-lora  # memory
The last line printed is the ratio (ours / TRL episodes per second).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


def _words(n: int = 12000, seed: int = 0) -> list[str]:
    """Pseudo-words, so the BPE tokenizer reaches an ~8k vocabulary and the models ~1.5M
    parameters (the size PEERS.md measured TRL at)."""
    rng = random.Random(seed)
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(n)]


WORDS = _words()
BATCH, NEW_TOKENS, EPOCHS, LR, TEMP = 16, 24, 4, 3e-6, 0.7


def _prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 20))) + ":"
            for _ in range(n)]


def build_models(folder: Path, layers: int, width: int) -> None:
    """Tokenizer + four seeded GPT-2s, saved so both venvs load the very same files."""
    import torch
    from transformers import AutoModelForSequenceClassification, GPT2Config

    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm, train_bpe_tokenizer

    tok = train_bpe_tokenizer(_prompts(4000, seed=1) + [" ".join(WORDS)], vocab_size=8192,
                              model_max_length=256)
    for i, name in enumerate(["policy", "ref"]):
        build_tiny_causal_lm(tok, TinyModelConfig(n_layer=layers, n_embd=width, n_head=4,
                                                  max_positions=256, seed=0)
                             ).save_pretrained(folder / name)  # ref = an identical copy
        tok.save_pretrained(folder / name)
    for i, name in enumerate(["value", "reward"]):
        torch.manual_seed(10 + i)
        cfg = GPT2Config(n_layer=layers, n_embd=width, n_head=4, n_positions=256, num_labels=1,
                         vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
        AutoModelForSequenceClassification.from_config(cfg).save_pretrained(folder / name)
        tok.save_pretrained(folder / name)
    (folder / "prompts.json").write_text(json.dumps(_prompts(256)))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker_trl(folder: Path, updates: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                              AutoTokenizer, TrainerCallback)
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    tok = AutoTokenizer.from_pretrained(folder / "policy", padding_side="left")
    prompts = json.loads((folder / "prompts.json").read_text())
    ids = [tok(p, add_special_tokens=False)["input_ids"][-64:] for p in prompts]
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = PPOConfig(output_dir=out, per_device_train_batch_size=BATCH,
                         gradient_accumulation_steps=1, num_mini_batches=1,
                         num_ppo_epochs=EPOCHS, response_length=NEW_TOKENS,
                         total_episodes=BATCH * updates, local_rollout_forward_batch_size=BATCH,
                         learning_rate=LR, temperature=TEMP, stop_token="eos",
                         missing_eos_penalty=1.0, kl_coef=0.05, use_cpu=True, bf16=False,
                         num_sample_generations=0, report_to="none", save_strategy="no",
                         logging_steps=1, seed=0, disable_tqdm=True)
        trainer = PPOTrainer(
            args=args, processing_class=tok,
            model=AutoModelForCausalLM.from_pretrained(folder / "policy"),
            ref_model=AutoModelForCausalLM.from_pretrained(folder / "ref"),
            reward_model=AutoModelForSequenceClassification.from_pretrained(folder / "reward"),
            value_model=AutoModelForSequenceClassification.from_pretrained(folder / "value"),
            train_dataset=Dataset.from_dict({"input_ids": ids}), callbacks=[Stamp()])
        start = time.perf_counter()
        trainer.train()
    return {"starts": [start] + stamps[:-1], "ends": stamps, "peak_rss_mb": _peak_rss_mb(),
            "torch": torch.__version__}


def worker_ours(folder: Path, updates: int, lora: bool) -> dict:
    import torch
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                              AutoTokenizer)

    from rlhf_eval.training.ppo import PPOTrainer
    from rlhf_eval.training.ppo_config import PPOConfig

    tok = AutoTokenizer.from_pretrained(folder / "policy")
    prompts = json.loads((folder / "prompts.json").read_text())
    cfg = PPOConfig(steps=updates, batch_size=BATCH, num_minibatches=1, ppo_epochs=EPOCHS,
                    max_new_tokens=NEW_TOKENS, learning_rate=LR, temperature=TEMP,
                    max_grad_norm=None, missing_eos_penalty=1.0, kl_coef=0.05,
                    max_prompt_length=64, save_every=10_000, lora=lora)
    with tempfile.TemporaryDirectory() as out:
        kwargs = {} if lora else {
            "ref_model": AutoModelForCausalLM.from_pretrained(folder / "ref"),
            "value_model": AutoModelForSequenceClassification.from_pretrained(folder / "value")}
        trainer = PPOTrainer(
            cfg, policy=AutoModelForCausalLM.from_pretrained(folder / "policy"), tokenizer=tok,
            prompts=prompts, run_dir=out, progress=False,
            reward_model=AutoModelForSequenceClassification.from_pretrained(folder / "reward"),
            reward_tokenizer=tok, **kwargs)
        starts, ends = [], []
        for step in range(1, updates + 1):  # train()'s loop minus checkpointing
            starts.append(time.perf_counter())
            row = trainer.train_step(step)
            trainer.step = step
            trainer.logger.log(row)
            ends.append(time.perf_counter())
    return {"starts": starts, "ends": ends, "peak_rss_mb": _peak_rss_mb(),
            "torch": torch.__version__}


def _run_peer(peer: str, folder: Path, updates: int, threads: int) -> dict:
    python = ROOT / (".venv-trl112" if peer == "trl" else ".venv") / "bin" / "python"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(python), __file__, "--worker", peer, "--dir", str(folder),
                           "--updates", str(updates), "--threads", str(threads)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{peer} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--updates", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2, help="updates excluded from each run")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per process (1: the machine is shared, and 2 spinning "
                         "OpenMP threads per process were 20x slower under load)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--peers", default="trl,ours,ours-lora")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        folder = Path(args.dir)
        result = (worker_trl(folder, args.updates) if args.worker == "trl"
                  else worker_ours(folder, args.updates, lora=args.worker == "ours-lora"))
        print(json.dumps(result))
        return

    peers = args.peers.split(",")
    if "trl" in peers and not (ROOT / ".venv-trl112/bin/python").exists():
        raise SystemExit("missing .venv-trl112: see the set-up lines in this file's docstring")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_models(folder, args.layers, args.width)
        from transformers import AutoModelForCausalLM

        n_params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(
            folder / "policy").parameters())
        print(f"models: 4 x GPT-2 {args.layers} layers x {args.width} wide, "
              f"{n_params / 1e6:.2f}M params each; batch {BATCH}, {NEW_TOKENS} new tokens, "
              f"{EPOCHS} PPO epochs x 1 minibatch, fp32, {args.threads} thread(s)/process; "
              f"{args.updates} updates per run, first {args.warmup} excluded")
        results: dict[str, list[dict]] = {p: [] for p in peers}
        for r in range(args.repeats):
            for peer in peers:  # alternate so machine load drifts hit every peer alike
                res = _run_peer(peer, folder, args.updates, args.threads)
                times = [e - s for s, e in zip(res["starts"], res["ends"])][args.warmup:]
                res["eps"] = statistics.median(BATCH / t for t in times)
                results[peer].append(res)
                print(f"  repeat {r + 1} {peer:10s} {res['eps']:7.2f} episodes/s  "
                      f"peak RSS {res['peak_rss_mb']:7.0f} MB", flush=True)
    summary = {p: (statistics.median(x["eps"] for x in v),
                   statistics.median(x["peak_rss_mb"] for x in v)) for p, v in results.items()}
    print(f"{'peer':12s} {'episodes/s':>11s} {'peak RSS MB':>12s}")
    for p, (eps, rss) in summary.items():
        print(f"{p:12s} {eps:11.2f} {rss:12.0f}")
    if "lora" in ",".join(peers) and "ours" in summary and "ours-lora" in summary:
        print(f"LoRA / full peak RSS: {summary['ours-lora'][1] / summary['ours'][1]:.2f}")
    if "trl" in summary and "ours" in summary:
        print(f"ratio ours/TRL episodes per second: {summary['ours'][0] / summary['trl'][0]:.2f}x")


if __name__ == "__main__":
    main()
