"""HH-RLHF reward model with the bundled MiniLM encoder: train on one part, evaluate on a
held-out part, and compare accuracy (95% bootstrap CI) with the always-pick-the-longer-answer
baseline and chance.

    .venv/bin/python benchmarks/hh_rlhf_minilm.py --out runs/hh-minilm

Data: the bundled HH-RLHF test splits (helpful-base + harmless-base, ~4,640 pairs after the
adapter drops malformed dialogues). A seeded split holds out --n-eval pairs (both subsets,
tagged meta.subset, so eval-rm reports each subset with its own longer-answer baseline); the RM
trains on --n-train of the rest. Everything runs through the real commands (`rlhf-eval train-rm`,
`rlhf-eval eval-rm`); the summary is printed last and saved as OUT/summary.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def build_split(out: Path, n_eval: int, n_train: int, seed: int,
                subsets: tuple[str, ...] = ("helpful-base", "harmless-base")) -> tuple[Path, Path]:
    from rlhf_eval.bundled import hh_rlhf_pairs
    from rlhf_eval.io import write_records

    pairs = []
    for subset in subsets:
        for p in hh_rlhf_pairs(f"hh-rlhf/{subset}").records:
            pairs.append(replace(p, meta={**p.meta, "subset": subset}))
    perm = np.random.default_rng(seed).permutation(len(pairs))
    eval_pairs = [pairs[i] for i in perm[:n_eval]]
    train_pairs = [pairs[i] for i in perm[n_eval:n_eval + n_train]]
    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "train.jsonl", train_pairs)
    write_records(out / "eval.jsonl", eval_pairs)
    return out / "train.jsonl", out / "eval.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/hh-minilm")
    ap.add_argument("--n-eval", type=int, default=1000)
    ap.add_argument("--n-train", type=int, default=1500)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subsets", default="helpful-base,harmless-base",
                    help="comma-separated HH-RLHF parts to split into train/held-out")
    ap.add_argument("--input-format", choices=["pair", "joined"], default="pair",
                    help="RM input: text pair (prompt, completion) or one joined segment")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 avoids OpenMP spin-waits on a shared, busy CPU")
    args = ap.parse_args(argv)

    from rlhf_eval.cli import main as cli

    out = Path(args.out)
    train, evald = build_split(out / "data", args.n_eval, args.n_train, args.seed,
                               tuple(args.subsets.split(",")))
    t0 = time.perf_counter()
    train_cmd = ["train-rm", "--data", str(train), "--model", "minilm", "--out", str(out / "rm"),
                 "--max-length", str(args.max_length), "--batch-size", str(args.batch_size),
                 "--lr", str(args.lr), "--epochs", str(args.epochs), "--seed", str(args.seed),
                 "--warmup-ratio", "0.1", "--threads", str(args.threads),
                 "--input-format", args.input_format] + ([] if args.no_bf16 else ["--bf16"])
    print("rlhf-eval " + " ".join(train_cmd), flush=True)
    if cli(train_cmd) != 0:
        return 1
    t_train = time.perf_counter() - t0
    eval_cmd = ["eval-rm", "--model", str(out / "rm"), "--data", str(evald), "--out",
                str(out / "eval"), "--max-length", str(args.max_length), "--seed", str(args.seed),
                "--batch-size", "64", "--threads", str(args.threads)] + ([] if args.no_bf16 else ["--bf16"])
    print("rlhf-eval " + " ".join(eval_cmd), flush=True)
    if cli(eval_cmd) != 0:
        return 1
    res = json.loads((out / "eval" / "rm_eval.json").read_text())
    acc, longer = res["accuracy"], res["length"]["longer_baseline"]
    summary = {"n_train": args.n_train, "n_eval": res["n_pairs"], "max_length": args.max_length,
               "input_format": args.input_format, "epochs": args.epochs, "lr": args.lr,
               "train_seconds": round(t_train, 1), "rm_accuracy": acc,
               "longer_baseline": longer, "chance": 0.5, "by_subset": res["by_subset"],
               "ece": res["calibration"]["ece"],
               "non_overlapping": acc["ci_low"] > max(longer["ci_high"], 0.5)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    def fmt(d):
        return f"{d['value']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"

    print(f"\nHH-RLHF held-out ({res['n_pairs']} pairs; trained on {args.n_train}, "
          f"max_length {args.max_length}, {t_train:.0f} s)")
    from rlhf_eval.io import read_records

    held = read_records(evald, "pair").records
    for name, d in res["by_subset"].items():
        sub_longer = np.mean([len(p.chosen) > len(p.rejected) for p in held
                              if p.meta.get("subset") == name])
        print(f"  {name:14s} RM accuracy {fmt(d)} (n={d['n']}); longer answer {sub_longer:.3f}")
    print(f"  length bias: RM prefers the longer answer on "
          f"{res['length']['rm_prefers_longer_fraction']:.3f} of pairs; spearman(reward, "
          f"length) {res['length']['corr_reward_length']['spearman']:.3f}")
    print(f"  chance 0.500 | longer answer {fmt(longer)} | RM {fmt(acc)} | "
          f"RM beats both with non-overlapping 95% CIs: {summary['non_overlapping']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
