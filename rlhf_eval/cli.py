"""The ``rlhf-eval`` command line: a thin dispatcher.

Each subcommand lives in ``rlhf_eval/commands/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int``. Command modules must import heavy
libraries (torch, transformers) inside ``run`` so that ``rlhf-eval --help`` stays fast.

Exit codes: 0 success, 1 a gate or check failed, 2 usage, data or configuration error.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import RlhfEvalError

# name -> (module, one-line help). Order is the order `--help` lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("rlhf_eval.commands.data", "validate, convert and inspect preference/judgment data"),
    "agreement": ("rlhf_eval.commands.agreement", "inter-annotator agreement of judgments"),
    "lab": ("rlhf_eval.commands.lab", "generate the synthetic RLHF lab task"),
    "lab-collect": ("rlhf_eval.commands.lab_collect", "label a policy's samples with the lab's "
                    "simulated annotators (on-policy pairs)"),
    "sft": ("rlhf_eval.commands.sft", "supervised fine-tuning of a policy"),
    "ppo": ("rlhf_eval.commands.ppo", "tune a policy with PPO against a reward model"),
    "train-rm": ("rlhf_eval.commands.train_rm", "train a reward model on preference pairs"),
    "score": ("rlhf_eval.commands.score", "score prompt/completion records with a reward model"),
    "eval-rm": ("rlhf_eval.commands.eval_rm", "analyse a reward model: accuracy, calibration, "
                "length bias"),
    "eval": ("rlhf_eval.commands.eval", "evaluate every checkpoint of a run into the store"),
    "report": ("rlhf_eval.commands.report", "write reports and check regression gates (CI)"),
    "dashboard": ("rlhf_eval.commands.dashboard", "open the dashboard: trends, correlations, "
                  "samples, RM analysis, labeling"),
    "demo": ("rlhf_eval.commands.demo", "run the whole loop on bundled data, on a CPU"),
    "correlate": ("rlhf_eval.commands.correlate", "correlate automatic metrics with human judgment"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlhf-eval",
        description="Train reward models and PPO policies, and evaluate every RLHF checkpoint "
                    "against human judgment.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real missing dependency: let it surface
                raise
            continue  # a command whose module is not written yet (tests check all exist)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from .quiet import configured

    # clean logs: bars only on a terminal and without --no-progress; library chatter off
    progress = getattr(args, "progress", None) is not False and \
        not getattr(args, "no_progress", False)
    try:
        with configured(progress=progress, verbose=args.verbose):
            return int(args._run(args) or 0)
    except RlhfEvalError as exc:
        print(f"rlhf-eval {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rlhf-eval {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
