"""Write SummEval preference pairs for training a reward model on documents the judge
meta-evaluation does not use (its default looks at the first documents only).

    python benchmarks/summeval_rm_pairs.py --skip-inputs 50 --pairs-per-input 20 --out pairs.jsonl
    rlhf-eval train-rm --data pairs.jsonl --model minilm --max-length 256 --epochs 1 \
        --lr 1e-4 --threads 1 --out runs/rm-summeval

Pairs: two systems' summaries of one document, the higher expert mean (the four aspects
averaged) is ``chosen``; equal means are skipped; the prompt is the article.
"""
from __future__ import annotations

import argparse

from rlhf_eval.evaluation.correlation_inputs import summeval_table
from rlhf_eval.evaluation.judges.meta import summeval_pairs
from rlhf_eval.io import atomic_write


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-inputs", type=int, default=50, help="leave the first N documents out")
    ap.add_argument("--pairs-per-input", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import json

    table = summeval_table()
    docs = list(dict.fromkeys(table["doc_id"]))[args.skip_inputs:]
    table = table[table["doc_id"].isin(docs)].reset_index(drop=True)
    pairs = summeval_pairs(table, pairs_per_input=args.pairs_per_input, seed=args.seed)
    lines = []
    for r in pairs.itertuples():
        if r.human == "tie":
            continue
        chosen, rejected = (r.output_a, r.output_b) if r.human == "a" else (r.output_b, r.output_a)
        if chosen == rejected:
            continue
        lines.append(json.dumps({"prompt": r.source, "chosen": chosen, "rejected": rejected}))
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"{len(lines)} pairs from {len(docs)} documents -> {args.out}")


if __name__ == "__main__":
    main()
