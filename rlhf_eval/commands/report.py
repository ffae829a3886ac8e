"""Write a report of an evaluated run and check regression gates (for CI).

Examples:
  rlhf-eval report --run runs/demo
  rlhf-eval report --run runs/demo --fail-on 'gold:drop>0.02' --fail-on 'kl:>15' --format md,junit
  rlhf-eval report --run runs/demo --gates gates.yaml --checkpoint checkpoint-200

Writes report.md, report.html (self-contained, plots embedded), report.json and junit.xml (one
test case per gate) to --out (default RUN/report). When $GITHUB_STEP_SUMMARY is set, the
Markdown is appended to it, whole or not at all. Exit code: 0 all gates pass, 1 a gate failed
(including a gated checkpoint that failed to evaluate or is only partly scored), 2 usage or
data error (or a full disk: the previous report files are then left as they were), 3 a bug.
"""
from __future__ import annotations

import os


def add_arguments(p) -> None:
    p.add_argument("--run", help="run folder (holds results.sqlite, run.json, metrics.jsonl)")
    p.add_argument("--store", help="results store (default RUN/results.sqlite)")
    p.add_argument("--run-name", help="run name inside the store (default: the only/first run)")
    p.add_argument("--baseline", default=None,
                   help="baseline checkpoint name (default: the store's baseline)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint the gates judge (default: the last one)")
    p.add_argument("--fail-on", action="append", default=[], metavar="GATE",
                   help="gate such as 'gold:drop>0.02', 'rougeL:drop>5%%', 'kl:>12' (repeatable)")
    p.add_argument("--gates", help="YAML file of gates (see rlhf_eval.gates)")
    p.add_argument("--no-significance", action="store_true",
                   help="drop gates compare the mean change, ignoring its confidence interval")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--correlations", help="correlation table (JSON/parquet from "
                   "`rlhf-eval correlate --out`) to include; default RUN/correlation/*")
    p.add_argument("--format", default="md,html,json,junit",
                   help="comma-separated subset of md,html,json,junit")
    p.add_argument("--out", help="output folder (default RUN/report)")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..escape import check_name
    from ..gates import check_confidence
    from ..report import RENDERERS, build_report_data, render_markdown, write_report

    if not args.run and not args.store:
        raise ConfigError("give --run DIR or --store FILE")
    if args.run_name is not None:
        check_name(args.run_name, "--run-name")
    for flag in ("baseline", "checkpoint"):
        if getattr(args, flag) is not None:
            check_name(getattr(args, flag), f"--{flag}")
    check_confidence(args.confidence, "--confidence")
    if not 0 <= args.seed < 2 ** 63:
        raise ConfigError(f"--seed: expected an integer from 0 to 2**63-1, found {args.seed}")
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in RENDERERS]
    if bad:
        raise ConfigError(f"unknown format(s) {bad}; expected some of {sorted(RENDERERS)}")
    data = build_report_data(
        run_dir=Path(args.run) if args.run else None,
        store_path=Path(args.store) if args.store else None,
        run_name=args.run_name, baseline=args.baseline, checkpoint=args.checkpoint,
        gate_specs=args.fail_on, gate_file=args.gates,
        significance=not args.no_significance, confidence=args.confidence,
        correlations=args.correlations, seed=args.seed)
    out = Path(args.out) if args.out else (Path(args.run) if args.run else
                                           Path(args.store).parent) / "report"
    written = write_report(data, out, formats)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        append_whole(Path(summary_file), render_markdown(data) + "\n")
    for g in data.gates:
        print(f"[{'PASS' if g.passed else 'FAIL'}] {g.gate.spec}: {g.message}")
    for fmt, path in written.items():
        print(f"wrote {fmt:5s} {path}")
    return 0 if data.passed else 1


def append_whole(path, text: str) -> None:
    """Append ``text`` to ``path`` completely or not at all: on any error (a full disk) the
    file is cut back to its old length, so a CI job summary never ends mid-table."""
    from ..errors import RlhfEvalError

    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:  # unbuffered: nothing is left in a buffer to flush later
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, start)
            raise RlhfEvalError(f"{path}: could not append the step summary "
                                f"({exc.strerror or exc}); nothing was appended") from exc
    finally:
        os.close(fd)
