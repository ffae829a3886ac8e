"""Score prompt/completion records (or both sides of preference pairs) with a reward model.

Examples:
  rlhf-eval score --model runs/rm --data samples.jsonl --out scores.jsonl
  rlhf-eval score --model runs/rm --data pairs.jsonl --out pair_scores.jsonl --batch-size 64

Output: JSONL, one row per input record in input order: ``index``, ``id`` (samples), and
``reward`` (samples) or ``reward_chosen``/``reward_rejected``/``margin`` (pairs); the first
line of the log names the RM signature. Scores do not depend on the batch size.
"""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="reward model id or folder")
    p.add_argument("--data", required=True, help="samples (prompt/completion) or pairs")
    p.add_argument("--out", required=True, help="output JSONL")
    p.add_argument("--kind", choices=["auto", "sample", "pair", "ranking"], default="auto")
    p.add_argument("--adapter", help="input layout adapter, e.g. hh-rlhf")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", action="store_true")
    from ..threads import add_threads_argument

    add_threads_argument(p)


def _rows_for(records, kind, scorer):
    if kind == "sample":
        rewards = scorer.score([r.prompt for r in records], [r.completion for r in records])
        return [{"index": i, "id": r.id, "reward": float(x)}
                for i, (r, x) in enumerate(zip(records, rewards))]
    from ..io import to_pairs

    pairs = to_pairs(records)
    r_c, r_r = scorer.score_pairs(pairs)
    return [{"index": i, "reward_chosen": float(c), "reward_rejected": float(r),
             "margin": float(c - r)} for i, (c, r) in enumerate(zip(r_c, r_r))]


def run(args) -> int:
    import json

    from ..threads import apply_threads

    apply_threads(args.threads)

    from ..io import atomic_write, guess_kind, read_records
    from ..rm.scorer import RewardScorer

    kind = ("pair" if args.adapter else guess_kind(args.data)) if args.kind == "auto" \
        else args.kind
    records = read_records(args.data, kind, adapter=args.adapter).records
    scorer = RewardScorer(args.model, device=args.device, batch_size=args.batch_size,
                          max_length=args.max_length, bf16=args.bf16, progress=True)
    rows = _rows_for(records, kind, scorer)
    with atomic_write(args.out) as fh:
        for row in rows:
            fh.write(json.dumps(row, allow_nan=False) + "\n")
    st = scorer.stats
    print(f"score: {len(rows)} {kind} record(s) scored with {scorer.signature}")
    print(f"score: {st.truncated} sequence(s) truncated to {scorer.max_length} tokens, "
          f"{st.empty_completions} empty completion(s); wrote {args.out}")
    return 0
