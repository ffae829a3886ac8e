"""The bootstrap on multiplicities (issue 18) gives the numbers of the per-resample loop.

Reference: every resample materialised as a grid and every level recomputed on it
(`bootstrap_level` + `level_correlation`, itself tested against scipy in test_levels), and for
`bootstrap_ci` a plain Python loop over `rng.integers` draws.
"""
from __future__ import annotations

import numpy as np
import pytest

from rlhf_eval.evaluation.correlation import (LEVELS, METHODS, CorrelationConfig, ScoreGrid,
                                              bootstrap_correlations, bootstrap_level,
                                              compare_metrics, correlate_grid, level_correlation)
from rlhf_eval.evaluation.correlation_pairwise import pairwise_agreement
from rlhf_eval.stats import bootstrap_ci, index_counts, percentile_interval


def _grid(kind: str, r: int, s: int, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "ties":  # Likert-like human scores and a coarse metric: many ties
        x = rng.integers(0, 4, size=(r, s)).astype(float)
    else:
        x = rng.normal(size=(r, s))
    y = rng.integers(3, 15, size=(r, s)) / 3.0
    if kind == "missing":
        x[rng.random((r, s)) < 0.15] = np.nan
    return x, y


@pytest.mark.parametrize("kind,r,s", [("continuous", 14, 6), ("ties", 25, 5),
                                      ("missing", 9, 12), ("ties", 6, 70)])
@pytest.mark.parametrize("resample", ["inputs", "systems", "both"])
def test_every_level_and_method_equals_the_materialised_loop(kind, r, s, resample):
    x, y = _grid(kind, r, s, seed=r * s)
    for level in LEVELS:
        fast = bootstrap_correlations(x, y, level=level, resample=resample, n_resamples=60,
                                      seed=7)
        for method in METHODS:
            slow = bootstrap_level([x, y], lambda bx, by: level_correlation(
                bx, by, level=level, method=method).value, resample=resample,
                n_resamples=60, seed=7)
            got = fast[method]
            assert np.array_equal(np.isnan(got), np.isnan(slow)), (level, method)
            np.testing.assert_allclose(got, slow, rtol=0, atol=1e-12,
                                       err_msg=f"{level} {method}")


def test_sample_kendall_above_the_quadratic_limit_uses_scipy(monkeypatch):
    from rlhf_eval.evaluation import correlation

    x, y = _grid("ties", 10, 8, seed=1)
    want = bootstrap_correlations(x, y, level="sample", methods=("kendall",),
                                  resample="both", n_resamples=30, seed=2)["kendall"]
    monkeypatch.setattr(correlation, "_QUADRATIC_KENDALL_MAX", 10)
    got = bootstrap_correlations(x, y, level="sample", methods=("kendall",),
                                 resample="both", n_resamples=30, seed=2)["kendall"]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_correlate_grid_and_compare_match_the_loop_and_the_column_cache_is_per_column():
    x1, y1 = _grid("continuous", 12, 6, seed=3)
    x2, y2 = _grid("ties", 12, 6, seed=4)
    grid = ScoreGrid(tuple(map(str, range(12))), tuple("abcdef"),
                     {"m1": x1, "m2": x2, "h1": y1, "h2": y2})
    cfg = CorrelationConfig(n_resamples=80, seed=5)
    table = correlate_grid(grid, ["m1", "m2"], ["h1", "h2"], cfg)
    for row in table.itertuples():
        slow = bootstrap_level([grid.column(row.metric), grid.column(row.aspect)],
                               lambda bx, by: level_correlation(
                                   bx, by, level=row.level, method=row.method).value,
                               resample="both", n_resamples=80, seed=5)
        low, high, n_valid = percentile_interval(slow, 0.95)
        assert (row.ci_low, row.ci_high, row.n_resamples_valid) == pytest.approx(
            (low, high, n_valid), abs=1e-12)
    cmp = compare_metrics(grid, "m1", "m2", ["h1"], cfg)
    row = cmp[(cmp.level == "system") & (cmp.method == "kendall")].iloc[0]
    deltas = [bootstrap_level([grid.column(m), y1], lambda bx, by: level_correlation(
        bx, by, level="system", method="kendall").value, resample="both", n_resamples=80,
        seed=5) for m in ("m1", "m2")]
    low, high, _ = percentile_interval(deltas[0] - deltas[1], 0.95)
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_index_counts_are_multiplicities():
    idx = np.array([[0, 0, 2], [1, 2, 2]])
    assert index_counts(idx, 4).tolist() == [[2, 0, 1, 0], [0, 1, 2, 0]]


def test_bootstrap_ci_draws_and_numbers_equal_the_per_resample_loop():
    values = np.random.default_rng(0).normal(size=101)
    rng = np.random.default_rng(9)
    loop = np.array([values[rng.integers(0, 101, size=101)].mean() for _ in range(500)])
    low, high, _ = percentile_interval(loop, 0.9)
    ci = bootstrap_ci(values, n_resamples=500, seed=9, confidence=0.9)
    assert (ci.low, ci.high) == (low, high)  # bit for bit: same draws, same row sums


def test_vectorised_statistic_equals_the_scalar_one():
    values = np.random.default_rng(1).random(40) > 0.4

    def scalar(idx):
        return values[idx].mean() if values[idx].any() else np.nan

    def batched(idx):
        return np.where(values[idx].any(axis=-1), values[idx].mean(axis=-1), np.nan)

    a = bootstrap_ci(scalar, n=40, n_resamples=300, seed=4)
    b = bootstrap_ci(batched, n=40, n_resamples=300, seed=4, vectorized=True)
    assert a == b


def test_pairwise_agreement_interval_unchanged():
    rng = np.random.default_rng(2)
    winner = rng.choice(["a", "b", "tie"], size=90)
    sa, sb = rng.normal(size=90), rng.normal(size=90)
    groups = np.repeat(np.arange(30), 3)
    res = pairwise_agreement(winner, sa, sb, groups=groups, n_resamples=400, seed=3)
    # the previous implementation: one Python call per resample
    decided = winner != "tie"
    agree = decided & (np.where(sa > sb, "a", np.where(sa < sb, "b", "tie")) == winner)
    g_agree = np.bincount(groups, weights=agree.astype(float))
    g_dec = np.bincount(groups, weights=decided.astype(float))
    rng = np.random.default_rng(3)
    stats = []
    for _ in range(400):
        idx = rng.integers(0, 30, size=30)
        d = g_dec[idx].sum()
        stats.append(g_agree[idx].sum() / d if d else np.nan)
    low, high, _ = percentile_interval(np.array(stats), 0.95)
    assert (res.ci_low, res.ci_high) == (low, high)
