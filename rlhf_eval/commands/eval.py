"""Evaluate every checkpoint of a run on held-out prompts and fill the results store.

    rlhf-eval eval --run runs/my-ppo --prompts runs/lab/prompts_eval.jsonl
    rlhf-eval eval --run runs/my-ppo --config eval.yaml --watch     # until Ctrl-C
    rlhf-eval eval --checkpoint other/ckpt-a --checkpoint other/ckpt-b \\
        --baseline-model sft/ --reward-model rm/ --prompts p.jsonl --store results.sqlite

Settings: defaults < YAML file (--config; every field of rlhf_eval.evaluation.suite.EvalConfig)
< flags. A re-run evaluates only what is not in the store yet. Results: <run>/results.sqlite
(schema: docs/store.md); --export DIR also writes Parquet files.
"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="run folder (run.json + checkpoint-<step>/)")
    p.add_argument("--config", help="YAML file of EvalConfig fields")
    p.add_argument("--prompts", help="JSONL of Sample records (prompt, references, id, meta)")
    p.add_argument("--store", help="results file (default: <run>/results.sqlite)")
    p.add_argument("--run-name", help="name of the run in the store (default: folder name)")
    p.add_argument("--checkpoint", action="append", dest="checkpoints",
                   help="evaluate this folder instead of discovering checkpoint-<step>/ "
                        "(repeatable; any folder from_pretrained loads, or peft adapters)")
    p.add_argument("--baseline-model", help="the SFT/baseline policy (overrides run.json)")
    p.add_argument("--ref-model", help="KL reference model (overrides run.json)")
    p.add_argument("--reward-model", help="reward model (overrides run.json)")
    p.add_argument("--tokenizer", help="tokenizer (default: the checkpoint's, else baseline's)")
    p.add_argument("--metrics", nargs="+", help="metric names, space- or comma-separated "
                   "(default: rouge bleu chrf bertscore length distinct repetition reward kl "
                   "gold)")
    p.add_argument("--judges", nargs="+", help="score names used for win-rates")
    p.add_argument("--baseline", choices=["sft", "references", "previous"],
                   help="win-rates against (default: sft)")
    p.add_argument("--tie-policy", choices=["half", "exclude"])
    p.add_argument("--max-samples", type=int)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--max-prompt-tokens", type=int, help="prompts are cut from the left")
    p.add_argument("--sample", dest="do_sample", action="store_true", default=None,
                   help="sample (seeded per sample) instead of greedy decoding")
    p.add_argument("--temperature", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1, ...")
    from ..threads import add_threads_argument

    add_threads_argument(p, default=None)  # None: the config's value (default 0, auto)
    p.add_argument("--watch", action="store_true", default=None,
                   help="keep polling the run folder for new checkpoints until Ctrl-C")
    p.add_argument("--poll-seconds", type=float)
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.add_argument("--export", metavar="DIR", help="also export the store as Parquet to DIR")


_FIELDS = ("run", "prompts", "store", "run_name", "checkpoints", "baseline_model", "ref_model",
           "reward_model", "tokenizer", "metrics", "judges", "baseline", "tie_policy",
           "max_samples", "max_new_tokens", "max_prompt_tokens", "do_sample", "temperature", "batch_size", "seed",
           "device", "threads", "watch", "poll_seconds", "progress")


def run(args: argparse.Namespace) -> int:
    import sys

    from ..config import load_config
    from ..evaluation.suite import EvalConfig, Suite

    overrides = {k: getattr(args, k) for k in _FIELDS if getattr(args, k) is not None}
    for key in ("metrics", "judges"):  # "rouge bleu" and "rouge,bleu" both work
        if key in overrides:
            overrides[key] = [n for item in overrides[key] for n in item.split(",") if n]
    cfg = load_config(EvalConfig, args.config, overrides)
    suite = Suite(cfg)
    try:
        report = suite.watch() if cfg.watch else suite.run_once()
        summary = suite.store.checkpoint_summary(suite.run_name, confidence=cfg.confidence,
                                                 seed=cfg.seed)
        winrates = suite.store.winrates(suite.run_name)
        if args.export:
            suite.store.export(args.export, "parquet")
    finally:
        suite.close()
    print(f"run {report.run}: {len(report.checkpoints)} checkpoint(s), {report.generated} new "
          f"generation(s), {report.scores_written} new score(s), {report.winrates} win-rate "
          f"row(s) -> {report.store}")
    if len(summary):
        wide = summary.pivot_table(index=["step", "checkpoint"], columns="metric",
                                   values="mean")
        print(wide.to_string(float_format=lambda v: f"{v:.4g}"))
    if len(winrates):
        winrates = winrates[winrates["tie_policy"] == cfg.tie_policy]
        cell = winrates.apply(lambda r: f"{r.winrate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                              if r.winrate == r.winrate else "n/a", axis=1)
        table = winrates.assign(cell=cell).pivot_table(
            index=["checkpoint", "baseline"], columns="judge", values="cell", aggfunc="first")
        print(f"\nwin-rates (ties {cfg.tie_policy}, {cfg.confidence:.0%} bootstrap CI):")
        print(table.to_string())
    if report.failed:
        for f in report.failed:
            print(f"rlhf-eval eval: error: checkpoint {f}", file=sys.stderr)
        return 2
    return 0
