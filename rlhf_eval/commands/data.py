"""Validate, convert and inspect preference and judgment data.

  rlhf-eval data validate FILE [--kind pair] [--adapter hh-rlhf|trl|summeval] [--on-error skip]
                               [--tokenizer NAME_OR_PATH (chat template for --adapter trl)]
  rlhf-eval data convert IN OUT [--kind ...] [--adapter ...] [--to-pairs]
  rlhf-eval data stats FILE [--kind ...] [--json]

Formats come from the file name (.jsonl, .jsonl.gz, .json, .csv, .parquet, or a folder saved
with datasets' save_to_disk) unless --format/--out-format is given; the kind is guessed from
the first record unless --kind is given. Without --on-error skip the first bad record stops the
command with exit code 2 and a message naming file:line and field; with it, every skipped
record is listed. `validate` exits 1 when records were skipped. `convert` writes atomically: on
an error no output file appears (and an existing one keeps its content).
"""
from __future__ import annotations

import argparse
import json
import sys

from ..schema import RECORD_TYPES

FORMAT_CHOICES = ("jsonl", "jsonl.gz", "json", "csv", "parquet", "hf")


def _input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=sorted(RECORD_TYPES),
                   help="record kind (default: guessed from the first record, or the adapter's)")
    p.add_argument("--adapter", choices=["hh-rlhf", "trl", "summeval"],
                   help="read data in a published layout (see rlhf_eval.adapters)")
    p.add_argument("--format", choices=FORMAT_CHOICES, help="input format (default: from name)")
    p.add_argument("--split", help="split of a saved DatasetDict (default: all splits)")
    p.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                   help="stop at the first bad record (default) or skip and list bad records")
    p.add_argument("--no-strict", dest="strict", action="store_false",
                   help="ignore unknown fields instead of reporting them")
    p.add_argument("--tokenizer", metavar="NAME_OR_PATH",
                   help="with --adapter trl: render conversations with this tokenizer's chat "
                        "template (default: the Human/Assistant template)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = sub.add_parser("validate", help="check every record; print counts and skipped records")
    p.add_argument("file")
    _input_args(p)
    p = sub.add_parser("convert", help="convert between formats/adapters (atomic output)")
    p.add_argument("input")
    p.add_argument("output")
    _input_args(p)
    p.add_argument("--out-format", choices=FORMAT_CHOICES,
                   help="output format (default: from the name)")
    p.add_argument("--to-pairs", action="store_true",
                   help="expand rankings into K(K-1)/2 preference pairs")
    p = sub.add_parser("stats", help="counts and length statistics")
    p.add_argument("file")
    _input_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def read(args, source: str):
    """The ReadResult for the common input options (shared with `rlhf-eval agreement`)."""
    from ..adapters import get_adapter, trl_adapter
    from ..errors import DataError
    import logging

    from ..io import guess_kind, read_records, saved_splits

    adapter = args.adapter
    if getattr(args, "tokenizer", None):
        if adapter != "trl":
            raise DataError("--tokenizer only applies to --adapter trl", field="tokenizer")
        from ..models import load_tokenizer

        adapter = trl_adapter(tokenizer=load_tokenizer(args.tokenizer))
    kind = args.kind
    if kind is None:
        kind = get_adapter(adapter).kinds[0] if adapter else guess_kind(
            source, format=args.format, split=args.split)
    splits = saved_splits(source)
    if args.split is None and len(splits) > 1:  # the documented default, said out loud
        logging.getLogger("rlhf_eval.data").warning(
            "%s is a DatasetDict: reading ALL its splits %s together; pass --split to read "
            "one", source, splits)
    return read_records(source, kind, on_error=args.on_error, format=args.format,
                        strict=args.strict, adapter=adapter, split=args.split)


def run(args) -> int:
    return {"validate": _validate, "convert": _convert, "stats": _stats}[args.data_command](args)


def _validate(args) -> int:
    result = read(args, args.file)
    print(result.summary())
    return 1 if result.skipped else 0


def _convert(args) -> int:
    from ..io import to_pairs, write_records

    result = read(args, args.input)
    records = to_pairs(result.records) if args.to_pairs else result.records
    n = write_records(args.output, records, format=args.out_format)
    print(result.summary())
    print(f"wrote {n} record(s) to {args.output}")
    return 0


def _stats(args) -> int:
    result = read(args, args.file)
    stats = record_stats(result.records, result.kind)
    stats = {"source": result.source, **result.counts, **stats}
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        _print_stats(stats)
    if result.skipped:
        print("skipped:\n" + "\n".join(f"  {loc}: {why}" for loc, why in result.skipped),
              file=sys.stderr)
    return 0


# ============================================================================ statistics


def length_stats(texts: list[str]) -> dict[str, float]:
    """Characters and whitespace-separated words: mean, median, p95, max."""
    import numpy as np

    if not texts:
        return {}
    chars = np.array([len(t) for t in texts])
    words = np.array([len(t.split()) for t in texts])
    out = {}
    for unit, arr in (("chars", chars), ("words", words)):
        out.update({f"{unit}_mean": round(float(arr.mean()), 2),
                    f"{unit}_median": float(np.median(arr)),
                    f"{unit}_p95": round(float(np.percentile(arr, 95)), 2),
                    f"{unit}_max": int(arr.max())})
    return out


def record_stats(records: list, kind: str) -> dict:
    """Kind-specific statistics of validated records (JSON-friendly)."""
    from collections import Counter

    import numpy as np

    out: dict = {"kind": kind, "records": len(records)}
    if not records:
        return out
    if kind == "pair":
        out["distinct_prompts"] = len({r.prompt for r in records})
        out["with_margin"] = sum(r.margin is not None for r in records)
        # a quick look at length bias: how often the preferred completion is the longer one
        out["chosen_longer_share"] = round(float(np.mean(
            [len(r.chosen) > len(r.rejected) for r in records])), 4)
        fields = ("prompt", "chosen", "rejected")
    elif kind == "ranking":
        sizes = Counter(len(r.completions) for r in records)
        out["ranking_sizes"] = {str(k): v for k, v in sorted(sizes.items())}
        out["pairs_when_expanded"] = sum(k * (k - 1) // 2 * v for k, v in sizes.items())
        fields = ("prompt",)
        out["completion_length"] = length_stats([c for r in records for c in r.completions])
    elif kind == "sample":
        out["systems"] = len({r.system for r in records if r.system})
        out["references_per_sample"] = dict(Counter(str(len(r.references)) for r in records))
        fields = ("prompt", "completion")
    elif kind == "judgement":
        aspects: dict[str, list[float]] = {}
        for r in records:
            aspects.setdefault(r.aspect, []).append(r.score)
        out["annotators"] = len({r.annotator for r in records})
        out["samples"] = len({r.sample_id for r in records})
        out["aspects"] = {a: {"n": len(v), "mean": round(float(np.mean(v)), 4),
                              "std": round(float(np.std(v)), 4), "min": min(v), "max": max(v)}
                          for a, v in aspects.items()}
        fields = ()
    else:  # choice
        out["annotators"] = len({r.annotator for r in records})
        out["winners"] = dict(Counter(r.winner for r in records))
        fields = ()
    for name in fields:
        out[f"{name}_length"] = length_stats([getattr(r, name) for r in records])
    return out


def _print_stats(stats: dict) -> None:
    for key, value in stats.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
