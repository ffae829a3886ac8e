"""The three correlation levels against scipy.stats on hand-made data."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rlhf_eval.evaluation.correlation import (METHODS, batched_correlation, correlation,
                                              level_correlation)
from rlhf_eval.stats import StatsError

SCIPY = {"pearson": lambda a, b: stats.pearsonr(a, b).statistic,
         "spearman": lambda a, b: stats.spearmanr(a, b).statistic,
         "kendall": lambda a, b: stats.kendalltau(a, b, variant="b").statistic}


@pytest.mark.parametrize("method", METHODS)
def test_summary_level_is_mean_of_per_input_scipy(grids, method):
    x, y = grids
    expected = []
    for i in range(x.shape[0]):
        ok = np.isfinite(x[i])
        if np.ptp(y[i][ok]) == 0 or np.ptp(x[i][ok]) == 0:
            continue
        expected.append(SCIPY[method](x[i][ok], y[i][ok]))
    value, n, skipped = correlation(x, y, level="summary", method=method)
    assert value == pytest.approx(np.mean(expected), abs=1e-12)
    assert (n, skipped) == (11, 1)  # input 3 has constant human scores


@pytest.mark.parametrize("method", METHODS)
def test_system_level_correlates_system_means(grids, method):
    x, y = grids
    ok = np.isfinite(x)
    mx = np.array([x[ok[:, j], j].mean() for j in range(x.shape[1])])
    my = np.array([y[ok[:, j], j].mean() for j in range(x.shape[1])])
    value, n, skipped = correlation(x, y, level="system", method=method)
    assert value == pytest.approx(SCIPY[method](mx, my), abs=1e-12)
    assert (n, skipped) == (7, 0)


@pytest.mark.parametrize("method", METHODS)
def test_sample_level_pools_cells_and_counts_missing(grids, method):
    x, y = grids
    ok = np.isfinite(x)
    value, n, skipped = correlation(x, y, level="sample", method=method)
    assert value == pytest.approx(SCIPY[method](x[ok], y[ok]), abs=1e-12)
    assert (n, skipped) == (83, 1)


def test_kendall_pairwise_and_scipy_paths_agree():
    # vectors longer than the pairwise cut-off go through scipy; shorter ones through the
    # vectorised tau-b: both must give scipy's tau-b, ties included
    rng = np.random.default_rng(3)
    for n in (10, 64, 65, 200):
        x = np.round(rng.normal(size=(4, n)), 1)
        y = np.round(x + rng.normal(size=(4, n)), 0)
        got = batched_correlation(x, y, method="kendall")
        want = [stats.kendalltau(x[k], y[k]).statistic for k in range(4)]
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_batched_matches_scipy_on_duplicated_points():
    # bootstrap resamples contain duplicates: they are ties in both vectors
    rng = np.random.default_rng(4)
    base = rng.normal(size=(2, 9))
    idx = rng.integers(0, 9, size=9)
    x, y = base[0][idx], (base[0] + base[1])[idx]
    for method in METHODS:
        got = batched_correlation(x[None], y[None], method=method)[0]
        assert got == pytest.approx(SCIPY[method](x, y), abs=1e-12)


def test_constant_inputs_are_skipped_and_counted():
    x = np.array([[1.0, 2, 3, 4], [1, 2, 3, 4], [5, 5, 5, 5], [1, 3, 2, 4]])
    y = np.array([[1.0, 1, 1, 1], [1, 2, 3, 5], [1, 2, 3, 4], [4, 3, 2, 1]])
    v = level_correlation(x[None], y[None], level="summary", method="pearson")
    # inputs 0 (human constant) and 2 (metric constant) skipped; mean of inputs 1 and 3
    want = np.mean([stats.pearsonr(x[1], y[1]).statistic, stats.pearsonr(x[3], y[3]).statistic])
    assert v.value[0] == pytest.approx(want)
    assert (int(v.n[0]), int(v.n_skipped[0])) == (2, 2)


def test_system_level_needs_three_systems():
    x = np.array([[1.0, 2.0], [2.0, 3.0], [0.5, 4.0]])
    with pytest.raises(StatsError, match="at least 3 systems.*found 2"):
        correlation(x, x + 1, level="system", method="pearson")


def test_constant_human_scores_raise_a_clear_error():
    x = np.arange(12.0).reshape(3, 4)
    y = np.full((3, 4), 4.0)
    with pytest.raises(StatsError, match="'relevance' is constant"):
        correlation(x, y, level="sample", method="kendall", aspect="relevance")
    with pytest.raises(StatsError, match="every input was skipped"):
        correlation(x, y, level="summary", method="kendall", aspect="relevance")


def test_unknown_level_and_method():
    x = np.arange(12.0).reshape(1, 3, 4)
    with pytest.raises(StatsError, match="unknown level"):
        level_correlation(x, x, level="corpus", method="pearson")
    with pytest.raises(StatsError, match="unknown correlation method"):
        level_correlation(x, x, level="sample", method="tau")


def test_equal_system_means_explained():
    x = np.array([[1.0, 2.0, 3.0], [2.0, 5.0, 3.0]])
    y = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])  # every system averages 2
    with pytest.raises(StatsError, match="per-system means of 'human' are all equal"):
        correlation(x, y, level="system", method="spearman")
