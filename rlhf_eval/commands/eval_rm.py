"""Analyse a reward model on preference pairs: accuracy with a bootstrap interval, per
subset/category (RewardBench section scores), calibration (reliability table, ECE), length bias
(beside the always-pick-the-longer-answer baseline), agreement with each annotator, accuracy
against a gold reward where pairs carry one (the lab), reward distributions, log loss/Brier,
margins; with --best-of-n, RewardBench-2-style items (one chosen among several rejected).

Examples:
  rlhf-eval eval-rm --model runs/rm --data runs/lab/pairs_test.jsonl --out runs/rm/eval
  rlhf-eval eval-rm --model runs/rm --data hh.jsonl.gz --adapter hh-rlhf --out eval/
  rlhf-eval eval-rm --model runs/rm --data pairs.jsonl --best-of-n bon.jsonl --out eval/

Writes OUT/rm_eval.json, OUT/rm_eval.csv (tidy table) and OUT/pair_scores.jsonl.
"""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="reward model id or folder")
    p.add_argument("--data", required=True, help="preference pairs or rankings")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--adapter", help="input layout adapter, e.g. hh-rlhf")
    p.add_argument("--split", help="split of a saved DatasetDict (required when it has "
                   "several)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (the default when stderr is not a terminal)")
    from ..threads import add_threads_argument

    add_threads_argument(p)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--n-resamples", type=int, default=1000)
    p.add_argument("--bins", type=int, default=10, help="calibration bins")
    p.add_argument("--best-of-n", metavar="FILE",
                   help="also RewardBench-2-style items: {prompt, chosen, rejected: [...]} per "
                        "record; accuracy = the chosen one scores strictly highest (chance 1/N)")


def _fmt(d):
    if d.get("value") is None:
        return "n/a"
    return f"{d['value']:.4f} [{d['ci_low']:.4f}, {d['ci_high']:.4f}] (n={d['n']})"


def run(args) -> int:
    import json

    from ..threads import apply_threads

    apply_threads(args.threads)
    from pathlib import Path

    from ..evaluation.reward_analysis import analyze_reward_model
    from ..io import atomic_write, atomic_write_json, atomic_write_text
    from ..rm.data import read_pairs
    from ..rm.scorer import RewardScorer

    pairs, _ = read_pairs(args.data, adapter=args.adapter, split=args.split)
    bon_items = None
    if args.best_of_n:   # read (and refused when bad) before any model is loaded
        from ..evaluation.reward_analysis import read_best_of_n

        bon_items, bon_skipped = read_best_of_n(args.best_of_n)
    scorer = RewardScorer(args.model, device=args.device, batch_size=args.batch_size,
                          max_length=args.max_length, bf16=args.bf16,
                          progress=not args.no_progress)
    r_c, r_r = scorer.score_pairs(pairs)
    analysis = analyze_reward_model(r_c, r_r, pairs, seed=args.seed,
                                    n_resamples=args.n_resamples, n_bins=args.bins)
    if bon_items is not None:
        from ..evaluation.reward_analysis import best_of_n_report

        bon_rewards = scorer.score([it.prompt for it in bon_items for _ in it.completions],
                                   [c for it in bon_items for c in it.completions])
        bon = best_of_n_report(bon_items, bon_rewards, seed=args.seed,
                               n_resamples=args.n_resamples)
        bon["skipped_multi_chosen"] = bon_skipped
        analysis.best_of_n = bon
    out = Path(args.out)
    result = {"model": args.model, "data": args.data, "signature": scorer.signature,
              "n_pairs": len(pairs), "truncated_sequences": scorer.stats.truncated,
              "empty_completions": scorer.stats.empty_completions, **analysis.to_dict()}
    atomic_write_json(out / "rm_eval.json", result)
    table = analysis.table()
    atomic_write_text(out / "rm_eval.csv", table.to_csv(index=False))
    with atomic_write(out / "pair_scores.jsonl") as fh:
        for i, (c, r) in enumerate(zip(r_c, r_r)):
            fh.write(json.dumps({"index": i, "reward_chosen": float(c),
                                 "reward_rejected": float(r)}) + "\n")
    print(f"eval-rm: {len(pairs)} pairs, {scorer.stats.truncated} sequence(s) truncated")
    print(f"  accuracy         {_fmt(analysis.accuracy)}   chance 0.5")
    print(f"  longer baseline  {_fmt(analysis.length['longer_baseline'])}")
    print(f"  ECE              {analysis.calibration['ece']:.4f}")
    if bon_items is not None:
        b = analysis.best_of_n
        print(f"  best-of-N        {b['value']:.4f} [{b['ci_low']:.4f}, {b['ci_high']:.4f}] "
              f"(n={b['n_items']} items)   chance {b['chance']:.3f}"
              + (f"; {b['skipped_multi_chosen']} item(s) with several chosen skipped"
                 if b["skipped_multi_chosen"] else ""))
    if analysis.gold and analysis.gold.get("n"):
        print(f"  vs gold          {_fmt(analysis.gold)}")
    print(f"eval-rm: wrote {out / 'rm_eval.json'}, {out / 'rm_eval.csv'}")
    return 0
