"""Data for the Reward model page: the output of ``rlhf-eval eval-rm --out DIR``.

That command writes ``rm_eval.json`` (everything :func:`rlhf_eval.evaluation.reward_analysis.
analyze_reward_model` measured: accuracy with a bootstrap interval, the calibration table,
length bias, reward histograms, per-category/subset/annotator accuracy, accuracy vs gold) and
``pair_scores.jsonl`` (the reward of each side of each pair). This module finds those folders and
turns the JSON into tidy frames for the charts; it recomputes nothing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError

RESULT = "rm_eval.json"
PAIRS = "pair_scores.jsonl"


def find_rm_evals(folders: Sequence[str | Path], depth: int = 3) -> list[Path]:
    """Folders holding ``rm_eval.json`` under ``folders`` (up to ``depth`` levels down)."""
    found = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for level in range(depth + 1):
            pattern = "/".join(["*"] * level + [RESULT])
            found += [p.parent for p in sorted(folder.glob(pattern))]
    return list(dict.fromkeys(found))


def load_result(folder: str | Path) -> dict:
    path = Path(folder) / RESULT
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise DataError("no rm_eval.json here; run `rlhf-eval eval-rm --out DIR` first",
                        path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"expected JSON ({exc.msg})", path=str(path), line=exc.lineno) from None
    for key in ("accuracy", "calibration", "length", "distributions"):
        if key not in data:
            raise DataError("expected the output of `rlhf-eval eval-rm`; key missing",
                            path=str(path), field=key)
    return data


def load_pairs(folder: str | Path) -> pd.DataFrame | None:
    """Per-pair rewards (``reward_chosen``, ``reward_rejected`` and, when written, lengths)."""
    path = Path(folder) / PAIRS
    if not path.is_file():
        return None
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"expected a JSON object ({exc.msg})", path=str(path),
                                line=lineno) from None
    frame = pd.DataFrame(rows)
    for col in ("reward_chosen", "reward_rejected"):
        if col not in frame.columns:
            raise DataError("column missing in pair scores", path=str(path), field=col)
    return frame


def _row(label: str, d: dict | None) -> dict | None:
    if not d or d.get("value") is None:
        return None
    return {"what": label, "value": d["value"], "ci_low": d.get("ci_low", np.nan),
            "ci_high": d.get("ci_high", np.nan), "n": d.get("n")}


def accuracy_frame(result: dict) -> pd.DataFrame:
    """Overall accuracy, the longer-answer baseline, accuracy vs gold: value with interval."""
    rows = [_row("RM accuracy", result["accuracy"]),
            _row("always pick the longer answer", result["length"].get("longer_baseline")),
            _row("RM accuracy vs gold reward", result.get("gold"))]
    return pd.DataFrame([r for r in rows if r])


def length_frame(result: dict) -> pd.DataFrame:
    """RM accuracy when the chosen answer is the longer vs the shorter one (length bias shows
    as a gap), beside the longer-answer baseline."""
    length = result["length"]
    rows = [_row("RM, chosen is longer", length.get("accuracy_chosen_longer")),
            _row("RM, chosen is shorter", length.get("accuracy_chosen_shorter")),
            _row("always pick the longer answer", length.get("longer_baseline"))]
    return pd.DataFrame([r for r in rows if r])


def calibration_frame(result: dict) -> pd.DataFrame:
    bins = pd.DataFrame(result["calibration"].get("bins", []))
    if bins.empty:
        return pd.DataFrame(columns=["confidence", "accuracy", "n"])
    return bins.dropna(subset=["confidence", "accuracy"]).reset_index(drop=True)


def group_frame(result: dict, key: str) -> pd.DataFrame:
    """Accuracy per ``by_category`` / ``by_subset`` / ``by_annotator`` group."""
    groups = result.get(key) or {}
    rows = [_row(str(name), d) for name, d in groups.items()]
    return pd.DataFrame([r for r in rows if r])


def reward_long(result: dict, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Rewards of the chosen and rejected sides, long format (side, reward).

    From the per-pair file when there is one; else rebuilt from the histogram in the JSON
    (each bin's count at its centre), which is what the summary keeps.
    """
    if pairs is not None:
        return pd.concat([pd.DataFrame({"side": "chosen", "reward": pairs["reward_chosen"]}),
                          pd.DataFrame({"side": "rejected", "reward": pairs["reward_rejected"]})],
                         ignore_index=True)
    dist = result["distributions"]
    edges = np.asarray(dist.get("histogram_edges", []), dtype=float)
    if edges.size < 2:
        return pd.DataFrame(columns=["side", "reward"])
    centres = (edges[:-1] + edges[1:]) / 2
    parts = [pd.DataFrame({"side": side, "reward": np.repeat(centres, dist[side]["histogram"])})
             for side in ("chosen", "rejected")]
    return pd.concat(parts, ignore_index=True)
