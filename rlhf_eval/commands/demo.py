"""Run the whole RLHF loop on bundled data, on a CPU, in minutes.

lab data -> SFT tiny policy -> reward model -> PPO with checkpoints -> eval suite on every
checkpoint -> correlation analysis (lab and SummEval) -> report. Each stage prints the
`rlhf-eval` command it runs and one line of what it did, and is skipped when its output exists
(use --force to redo); its own output goes to DIR/logs/<stage>.log. Progress bars only on a
terminal. The end is a short summary: gold and RM-score gains with 95% intervals, KL, the RM's
accuracy, the metrics that agree best with human ratings, and where everything is.

  rlhf-eval demo                 # ~10-11 minutes on 2 CPU cores, into runs/demo
  rlhf-eval demo --fast          # < 2 minutes, smaller everything (used by the tests)
"""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="demo folder (default runs/demo)")
    p.add_argument("--fast", action="store_true", help="tiny sizes: under 2 minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for every stage (default 1: the demo's models are tiny; "
                        "0 = torch's default)")
    p.add_argument("--force", action="store_true", help="re-run stages whose output exists")
    p.add_argument("--skip", action="append", default=[], metavar="STAGE",
                   help="skip a stage (lab, correlate-lab, correlate-summeval, sft, collect, "
                        "collect-eval, rm, ppo, eval, report)")


def run(args) -> int:
    import sys
    from pathlib import Path

    from ..demo import DemoConfig, run_demo

    cfg = DemoConfig(out=Path(args.out), fast=args.fast, seed=args.seed, force=args.force,
                     threads=args.threads, skip=tuple(args.skip),
                     progress=sys.stdout.isatty())
    return run_demo(cfg)
