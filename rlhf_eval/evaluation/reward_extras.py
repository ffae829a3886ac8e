"""Reward-model analysis beyond accuracy and ECE, as RewardBench users ask for (reward-bench
#263): log loss beside the Brier score, a histogram of margins, calibration per category, and
RewardBench-2-style best-of-N items (one chosen among several rejected completions; the item
is right when the chosen one scores strictly highest, so chance is 1/N).

The RM's probability that the chosen answer is better is ``sigmoid(r_chosen - r_rejected)``
(the Bradley-Terry reading of a reward model).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .reward_analysis import _check, accuracy_ci, calibration, sigmoid


def log_loss(r_chosen, r_rejected) -> float:
    """Mean negative log-likelihood of "chosen is better" under the BT reading (nats)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    m = r_c - r_r
    # -log sigmoid(m) = log(1 + exp(-m)), computed stably
    return float(np.mean(np.logaddexp(0.0, -m)))


def brier(r_chosen, r_rejected) -> float:
    r_c, r_r = _check(r_chosen, r_rejected)
    return float(np.mean((sigmoid(r_c - r_r) - 1.0) ** 2))


def margin_histogram(r_chosen, r_rejected, *, bins: int = 20) -> dict[str, Any]:
    """Counts of ``r_chosen - r_rejected`` over ``bins`` equal-width bins (negative margins
    are the RM's mistakes)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    m = r_c - r_r
    counts, edges = np.histogram(m, bins=bins)
    return {"counts": counts.tolist(), "edges": edges.tolist(),
            "negative": int((m < 0).sum()), "zero": int((m == 0).sum()),
            "positive": int((m > 0).sum())}


def calibration_by_category(r_chosen, r_rejected, categories: Sequence, *,
                            n_bins: int = 10) -> dict[str, dict]:
    """:func:`reward_analysis.calibration` (ECE, Brier) and log loss per category."""
    r_c, r_r = _check(r_chosen, r_rejected)
    cats = np.asarray([str(c) for c in categories], dtype=object)
    if cats.size != r_c.size:
        raise DataError(f"{cats.size} categories for {r_c.size} pairs", field="category")
    out = {}
    for c in sorted(set(cats)):
        sel = cats == c
        cal = calibration(r_c[sel], r_r[sel], n_bins=n_bins)
        out[c] = {"n": int(sel.sum()), "ece": cal["ece"], "brier": cal["brier"],
                  "log_loss": log_loss(r_c[sel], r_r[sel])}
    return out


def best_of_n(rewards: Sequence[Sequence[float]], *, seed: int = 0,
              n_resamples: int = 1000) -> dict[str, Any]:
    """Best-of-N accuracy: ``rewards[i] = [r_chosen, r_rejected_1, ..., r_rejected_k]``; an item
    is right when the chosen reward is strictly above every rejected one (a tie is wrong)."""
    if not len(rewards):
        raise DataError("no best-of-N items")
    hits, sizes = [], []
    for i, row in enumerate(rewards):
        r = np.asarray(row, dtype=float)
        if r.ndim != 1 or r.size < 2 or not np.all(np.isfinite(r)):
            raise DataError(f"item {i}: expected a chosen and >= 1 rejected finite rewards",
                            line=i + 1, field="rewards")
        hits.append(float(r[0] > r[1:].max()))
        sizes.append(r.size)
    out = dict(accuracy_ci(np.asarray(hits), seed=seed, n_resamples=n_resamples))
    out["chance"] = float(np.mean([1.0 / s for s in sizes]))
    out["n_items"] = len(hits)
    return out
