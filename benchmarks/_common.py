"""Helpers shared by the benchmarks: data loading, timing (medians of repeats)."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMEVAL = [ROOT / "data" / "summeval" / "summeval.json",
            ROOT.parent / "shared" / "data" / "summeval" / "summeval.json"]


def load_summeval() -> dict:
    for path in SUMMEVAL:
        if path.is_file():
            return json.loads(path.read_text())
    raise SystemExit("SummEval not found: expected data/summeval/summeval.json")


def timed(fn):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median(values) -> float:
    return float(statistics.median(values))
