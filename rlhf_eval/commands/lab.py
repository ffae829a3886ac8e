"""Generate the synthetic RLHF lab: documents built from facts, a gold reward, and simulated
annotators (Bradley-Terry on the gold reward with noise and a length bias).

Examples:
  rlhf-eval lab --out runs/lab --seed 0 --size demo
  rlhf-eval lab --out /tmp/lab --size test --n-train 100

Writes sft.jsonl, prompts_train.jsonl, prompts_eval.jsonl, pairs.jsonl, pairs_eval.jsonl,
rankings.jsonl, rating_samples.jsonl, ratings.jsonl and lab.json (config, counts, sha256) to
--out; the same seed gives the same bytes. Prints how often each annotator agrees with the gold
reward next to the rate its noise implies, and the accuracy ceiling for a reward model.
Schema: data/lab/README.md.
"""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="demo", help="demo (seconds, ~2000 train prompts) or test")
    p.add_argument("--n-train", type=int, help="train prompts (overrides the size)")
    p.add_argument("--n-eval", type=int, help="held-out eval prompts (overrides the size)")
    p.add_argument("--pairs-per-prompt", type=int, help="preference pairs per train prompt")


def run(args) -> int:
    from ..lab import (annotator_gold_agreement, generate_lab, lab_config, label_ceiling,
                       rm_ceilings, write_lab)

    overrides = {k: v for k, v in {"n_train": args.n_train, "n_eval": args.n_eval,
                                   "pairs_per_prompt": args.pairs_per_prompt}.items()
                 if v is not None}
    cfg = lab_config(args.size, args.seed, **overrides)
    dataset = generate_lab(cfg)
    manifest = write_lab(dataset, args.out)
    counts = ", ".join(f"{k.removesuffix('.jsonl')}={v}" for k, v in manifest["counts"].items())
    print(f"lab written to {args.out} (seed {args.seed}, size {args.size}): {counts}")
    if dataset.pairs:
        table = annotator_gold_agreement(dataset.pairs)
        print("annotator agreement with the gold reward on pairs.jsonl "
              "(empirical vs implied by the annotator's noise):")
        print(table.round(3).to_string())
        best = rm_ceilings(dataset.pairs, cfg.annotators)
        print(f"best reward model (ranks by the annotator mix): accuracy {best['label']:.3f} "
              f"against these labels, {best['gold']:.3f} against the gold reward "
              f"(a model told the annotator: {label_ceiling(dataset.pairs):.3f})")
    return 0
