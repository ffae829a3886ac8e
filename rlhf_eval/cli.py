"""The ``rlhf-eval`` command line: a thin dispatcher.

Each subcommand lives in ``rlhf_eval/commands/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int``. Command modules must import heavy
libraries (torch, transformers) inside ``run`` so that ``rlhf-eval --help`` stays fast.

Exit codes (the README has the table; nothing else may produce them):

    0  success
    1  only "a gate failed" (report) or "records were skipped" (data validate)
    2  usage, data or configuration error, or the machine refused (disk full, permission):
       a one-line message naming the file/line/field
    3  internal error (a bug): a one-line message; the traceback only with -v
    130 interrupted (Ctrl-C)

A top-level handler in :func:`main` guarantees the table for every command: an exception
that escapes a command never reaches Python's default handler (which would exit 1, the code
CI reads as "regression").
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from .errors import RlhfEvalError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

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
    "winrate": ("rlhf_eval.commands.winrate", "win-rates of checkpoints from every judge, "
                "length-controlled, with Bradley-Terry strengths"),
    "judge": ("rlhf_eval.commands.judge", "LLM-as-judge in both orders: bias report and agreement "
              "with humans"),
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, a usage error 2
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE
    return _run_command(args)


def _run_command(args) -> int:
    """Run one command and map every outcome onto the documented exit codes."""
    name = f"rlhf-eval {args.command}"
    try:
        code = int(args._run(args) or 0)
    except RlhfEvalError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # a library calling sys.exit must not bypass the table
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 3)
        if code in (EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED):
            return code
        print(f"{name}: internal error: exited with {exc.code!r}", file=sys.stderr)
        return EXIT_INTERNAL
    except OSError as exc:  # disk full, permission denied, missing file: the user's to fix
        print(f"{name}: error: {_one_line(exc)}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_USAGE
    except (RecursionError, MemoryError) as exc:  # input too deep or too big to handle
        print(f"{name}: error: input too large or too deeply nested "
              f"({type(exc).__name__})", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, never exit 1
        if _disk_full(exc):  # a library that wraps ENOSPC in its own error (safetensors)
            print(f"{name}: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{name}: internal error: {type(exc).__name__}: {_one_line(exc)} (rerun with -v "
              "for the traceback and please report it)", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_INTERNAL
    if code not in (EXIT_OK, EXIT_FAILED, EXIT_USAGE):
        print(f"{name}: internal error: the command returned {code}", file=sys.stderr)
        return EXIT_INTERNAL
    return code


def _disk_full(exc: BaseException | None) -> bool:
    """ENOSPC anywhere in the exception chain, or spelled out by a library (Rust's
    "No space left on device (os error 28)")."""
    import errno

    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:2000] + " ..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
