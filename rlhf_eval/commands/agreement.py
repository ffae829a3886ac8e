"""Inter-annotator agreement of Likert judgements or pairwise choices.

  rlhf-eval agreement FILE [--kind judgement|choice] [--expert NAME ...] [--level ordinal]
                           [--out table.csv]

Prints, per aspect, percent agreement, Cohen's kappa (mean over annotator pairs) and
Krippendorff's alpha; with --expert, each other annotator against the experts' consensus.
Level of measurement: nominal for choices, ordinal for judgements unless --level is given.
--out writes the table(s) atomically (.csv or .json; with --expert the expert table goes to
the same name with an `-expert` suffix).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .data import FORMAT_CHOICES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")
    parser.add_argument("--kind", choices=["judgement", "choice"],
                        help="record kind (default: guessed from the first record)")
    parser.add_argument("--expert", nargs="+", action="extend", metavar="NAME",
                        help="annotator id(s) forming the expert set")
    parser.add_argument("--level", choices=["nominal", "ordinal", "interval"],
                        help="level of measurement (default: nominal for choices, ordinal for "
                             "judgements)")
    parser.add_argument("--adapter", choices=["summeval"], help="read a published layout")
    parser.add_argument("--format", choices=FORMAT_CHOICES, help="input format")
    parser.add_argument("--split", help="split of a saved DatasetDict")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise")
    parser.add_argument("--no-strict", dest="strict", action="store_false")
    parser.add_argument("--out", help="write the table to this .csv or .json file")


def _write(table, path: str) -> None:
    from ..errors import DataError
    from ..io import atomic_write, atomic_write_text

    if path.endswith(".csv"):
        with atomic_write(path, newline="") as handle:
            table.to_csv(handle, index=False)
    elif path.endswith(".json"):
        atomic_write_text(path, table.to_json(orient="records", indent=2) + "\n")
    else:
        raise DataError("expected a .csv or .json output file", path=path, field="out")


def run(args) -> int:
    import pandas as pd

    from ..agreement import agreement_table, expert_agreement
    from ..errors import DataError
    from .data import read

    result = read(args, args.file)
    if result.kind not in ("judgement", "choice"):
        raise DataError(f"agreement needs judgement or choice records, found {result.kind!r}",
                        path=args.file)
    if result.skipped:
        print(result.summary())
    table = agreement_table(result.records, level=args.level)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        expert = None
        if args.expert:
            expert = expert_agreement(result.records, args.expert, level=args.level)
            print(f"\nagreement with the expert consensus ({', '.join(args.expert)}):")
            print(expert.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if args.out:
        _write(table, args.out)
        if expert is not None:
            p = Path(args.out)
            _write(expert, str(p.with_name(p.stem + "-expert" + p.suffix)))
    return 0
