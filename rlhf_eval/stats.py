"""Seeded resampling helpers: bootstrap intervals, paired tests, permutation tests.

The one home of this code, shared by everything that reports an interval: the results store
(per-checkpoint CIs), regression gates, win-rates, correlation analysis and RM accuracy.
All randomness comes from ``numpy.random.default_rng(seed)``: the same seed gives the same
resamples, so two statistics bootstrapped with the same seed and sizes are *paired* (computed on
the same resamples), which is what a paired comparison of two metrics needs.

- :func:`bootstrap_ci`        percentile interval of a statistic (mean of values, or any function
                              of resampled indices), optionally resampling whole groups
                              (cluster bootstrap).
- :func:`bootstrap_indices`   multi-dimensional resampling (e.g. inputs x systems, the BOOT-INPUTS /
                              BOOT-SYSTEMS / BOOT-BOTH schemes of Deutsch et al. 2021).
- :func:`index_counts`        a resample as multiplicities ((B, n) counts of each item), so a
                              statistic is computed once per distinct item with weights instead
                              of on a materialised resampled copy.

Speed: resamples are drawn as (B, n) index matrices and statistics evaluated on whole matrices
(or on their counts) with numpy, never one Python call per resample. The draws are the very
same numbers as a loop of ``rng.integers(0, n, size=n)`` (numpy's generator gives the same
stream either way; tests check it), so results at a given seed did not change.
- :func:`percentile_interval` the interval of an array of bootstrap statistics.
- :func:`paired_bootstrap_pvalue`, :func:`permutation_pvalue`: one-sided p-values.
- :func:`paired_bootstrap_ci` interval of the mean of paired differences (regression gates).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import RlhfEvalError


class StatsError(RlhfEvalError, ValueError):
    """A statistic that cannot be computed from the data given (too few points, bad options)."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int       # resamples requested
    n_valid: int           # resamples whose statistic was defined (finite)
    seed: int

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high,
                "confidence": self.confidence, "n_resamples": self.n_resamples,
                "n_valid_resamples": self.n_valid, "seed": self.seed}


def _check_options(n_resamples: int, confidence: float) -> None:
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise StatsError(f"n_resamples must be a positive integer, found {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must lie strictly between 0 and 1, found {confidence!r}")


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float, int]:
    """(low, high, n_valid) of the finite values in ``samples`` (percentile method, Efron 1979).

    Resamples where the statistic is undefined (e.g. a constant vector drawn by chance) are
    dropped and counted, never silently turned into numbers.
    """
    samples = np.asarray(samples, dtype=float)
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        raise StatsError("no bootstrap resample gave a defined statistic "
                         f"({samples.size} resamples, all undefined)")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high), int(finite.size)


def resample_groups(groups: Sequence, rng: np.random.Generator,
                    n_resamples: int) -> list[np.ndarray]:
    """Index arrays of a cluster bootstrap: draw whole groups with replacement, keep all their
    items (so correlated items of one group never end up split)."""
    groups = np.asarray(groups)
    _, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    out = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(members), size=len(members))
        out.append(np.concatenate([members[g] for g in drawn]))
    return out


# Resamples evaluated at once: bounds the (chunk, n) index matrix (8 bytes an entry).
_CHUNK_ENTRIES = 4_000_000


def index_counts(indices: np.ndarray, size: int) -> np.ndarray:
    """(B, size) multiplicities: ``out[b, i]`` = how often item i occurs in ``indices[b]``.

    A statistic that only depends on the multiset of items drawn (a mean, a correlation, a
    rank statistic) can then be computed once per distinct item with these weights."""
    indices = np.asarray(indices)
    b = indices.shape[0]
    flat = (indices + size * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * size).reshape(b, size)


def bootstrap_ci(values_or_fn: Sequence[float] | np.ndarray | Callable[[np.ndarray], float], *,
                 n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                 groups: Sequence | None = None, n: int | None = None,
                 vectorized: bool = False) -> Interval:
    """Percentile bootstrap interval.

    ``values_or_fn`` is either an array of per-item values (the statistic is their mean) or a
    function ``fn(indices) -> float`` of an index array into ``n`` items (pass ``n=`` or
    ``groups=``). With ``vectorized=True`` the function takes a (B, n) matrix of index rows and
    returns the B statistics at once (much faster; not with ``groups``). With ``groups`` (one
    label per item), whole groups are resampled.
    """
    _check_options(n_resamples, confidence)
    if callable(values_or_fn):
        fn = values_or_fn
        if groups is not None:
            size = len(groups)
        elif n is not None:
            size = int(n)
        else:
            raise StatsError("bootstrap_ci(fn): pass n= (number of items) or groups=")
    else:
        values = np.asarray(values_or_fn, dtype=float)
        if values.ndim != 1:
            raise StatsError(f"expected a 1-D array of values, found shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise StatsError(f"{int((~np.isfinite(values)).sum())} value(s) are NaN or infinite; "
                             "drop or fill them before bootstrapping")
        size = values.size

        def fn(idx: np.ndarray) -> np.ndarray:
            # row means of a C-ordered matrix sum each row like a 1-D mean: same numbers
            return values[idx].mean(axis=-1)
        vectorized = True
    if size < 1:
        raise StatsError("cannot bootstrap an empty sample")
    if groups is not None and len(groups) != size:
        raise StatsError(f"groups has {len(groups)} labels for {size} items")

    rng = np.random.default_rng(seed)
    estimate = float(fn(np.arange(size)[None])[0] if vectorized else fn(np.arange(size)))
    if groups is not None:
        draws = resample_groups(groups, rng, n_resamples)
        stats = np.array([fn(idx[None])[0] if vectorized else fn(idx) for idx in draws],
                         dtype=float)
    elif vectorized:
        # one (chunk, size) draw gives the same stream as `chunk` draws of `size`
        chunk = max(1, _CHUNK_ENTRIES // size)
        stats = np.concatenate([
            np.asarray(fn(rng.integers(0, size, size=(min(chunk, n_resamples - start), size))),
                       dtype=float)
            for start in range(0, n_resamples, chunk)])
    else:
        stats = np.array([fn(rng.integers(0, size, size=size)) for _ in range(n_resamples)],
                         dtype=float)
    low, high, n_valid = percentile_interval(stats, confidence)
    return Interval(estimate, low, high, confidence, int(n_resamples), n_valid, int(seed))


def bootstrap_indices(sizes: Sequence[int], resample: Sequence[bool], *, n_resamples: int,
                      seed: int) -> list[np.ndarray]:
    """One (n_resamples, size_d) index array per dimension d: drawn with replacement where
    ``resample[d]`` is true, the identity otherwise.

    For an inputs x systems score matrix, ``resample=(True, False)`` is Deutsch et al.'s
    (2021) BOOT-INPUTS, ``(False, True)`` BOOT-SYSTEMS and ``(True, True)`` BOOT-BOTH. The draws
    depend only on (sizes, resample, seed), so every metric analysed with the same seed sees
    the same resamples.
    """
    if len(sizes) != len(resample):
        raise StatsError(f"{len(sizes)} sizes but {len(resample)} resample flags")
    _check_options(n_resamples, 0.5)
    rng = np.random.default_rng(seed)
    out = []
    for size, flag in zip(sizes, resample):
        if flag:
            out.append(rng.integers(0, size, size=(n_resamples, size)))
        else:
            out.append(np.broadcast_to(np.arange(size), (n_resamples, size)))
    return out


def paired_bootstrap_pvalue(deltas: np.ndarray) -> float:
    """One-sided p-value of H0 "A is not better than B" from bootstrap differences A - B:
    the share of resamples where the difference is <= 0 (Koehn 2004; Deutsch et al. 2021)."""
    deltas = np.asarray(deltas, dtype=float)
    deltas = deltas[np.isfinite(deltas)]
    if deltas.size == 0:
        raise StatsError("no defined bootstrap differences")
    return float(np.mean(deltas <= 0.0))


def permutation_pvalue(observed: float, permuted: np.ndarray) -> float:
    """One-sided p-value of ``observed`` against a permutation null: (1 + #{perm >= obs}) /
    (1 + #perm), which is never 0 (Phipson & Smyth 2010)."""
    permuted = np.asarray(permuted, dtype=float)
    permuted = permuted[np.isfinite(permuted)]
    if permuted.size == 0:
        raise StatsError("no defined permutation statistics")
    return float((1 + np.sum(permuted >= observed - 1e-12)) / (1 + permuted.size))


def paired_bootstrap_ci(diffs: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of paired differences (resampling prompts)."""
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(n_resamples, len(diffs)))
    means = diffs[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
