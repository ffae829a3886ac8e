"""Seeded bootstrap intervals, paired comparisons, permutation and Williams' tests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rlhf_eval.evaluation.correlation import (CorrelationConfig, ScoreGrid, bootstrap_level,
                                              compare_metrics, correlate_grid,
                                              level_correlation, permutation_both, williams_test)
from rlhf_eval.stats import (StatsError, bootstrap_ci, bootstrap_indices,
                                        paired_bootstrap_pvalue, percentile_interval,
                                        permutation_pvalue)


def _grid(seed=0, r=20, s=8, noise_b=3.0):
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=s)                     # system effect
    human = quality + rng.normal(size=(r, s))
    a = human + 0.5 * rng.normal(size=(r, s))        # a good metric
    b = human + noise_b * rng.normal(size=(r, s))    # a noisier one
    return ScoreGrid(tuple(f"d{i}" for i in range(r)), tuple(f"s{j}" for j in range(s)),
                     {"a": a, "b": b, "human": human})


def test_bootstrap_ci_of_a_mean_is_seeded():
    values = np.random.default_rng(0).normal(size=50)
    one = bootstrap_ci(values, n_resamples=300, seed=7)
    two = bootstrap_ci(values, n_resamples=300, seed=7)
    other = bootstrap_ci(values, n_resamples=300, seed=8)
    assert one == two
    assert (one.low, one.high) != (other.low, other.high)
    assert one.estimate == pytest.approx(values.mean())
    assert one.low < one.estimate < one.high
    # the percentile interval of the mean is close to the normal-theory interval
    half = 1.96 * values.std(ddof=1) / np.sqrt(50)
    assert one.high - one.low == pytest.approx(2 * half, rel=0.25)


def test_bootstrap_ci_by_groups_draws_whole_groups():
    groups = np.repeat(np.arange(5), 4)
    seen = []

    def fn(idx):
        counts = np.bincount(groups[idx], minlength=5)
        seen.append(counts)
        return float(len(idx))

    ci = bootstrap_ci(fn, groups=groups, n_resamples=50, seed=0)
    assert ci.estimate == 20
    assert all(len(c) == 5 and all(k % 4 == 0 for k in c) for c in seen)


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(StatsError, match="NaN"):
        bootstrap_ci([1.0, float("nan")], n_resamples=10, seed=0)
    with pytest.raises(StatsError, match="n="):
        bootstrap_ci(lambda idx: 0.0, n_resamples=10, seed=0)
    with pytest.raises(StatsError, match="positive"):
        bootstrap_ci([1.0, 2.0], n_resamples=0, seed=0)
    with pytest.raises(StatsError, match="all undefined"):
        percentile_interval(np.full(5, np.nan))


def test_bootstrap_indices_resample_only_the_chosen_dimension():
    rows, cols = bootstrap_indices((10, 4), (True, False), n_resamples=30, seed=1)
    assert rows.shape == (30, 10) and cols.shape == (30, 4)
    assert (cols == np.arange(4)).all()
    assert any(len(set(r)) < 10 for r in rows)
    rows2, cols2 = bootstrap_indices((10, 4), (True, True), n_resamples=30, seed=1)
    assert any(len(set(c)) < 4 for c in cols2)


@pytest.mark.parametrize("resample", ["inputs", "systems", "both"])
def test_correlation_intervals_reproducible_and_seed_dependent(resample):
    grid = _grid()
    cfg = CorrelationConfig(levels=("summary", "system", "sample"), methods=("kendall",),
                            resample=resample, n_resamples=200, seed=0)
    one = correlate_grid(grid, ["a"], ["human"], cfg)
    two = correlate_grid(grid, ["a"], ["human"], cfg)
    other = correlate_grid(grid, ["a"], ["human"], CorrelationConfig(
        levels=cfg.levels, methods=cfg.methods, resample=resample, n_resamples=200, seed=1))
    pd.testing.assert_frame_equal(one, two)
    assert not np.allclose(one[["ci_low", "ci_high"]], other[["ci_low", "ci_high"]])
    assert ((one["ci_low"] <= one["value"]) & (one["value"] <= one["ci_high"])).all()
    assert not one[["value", "ci_low", "ci_high"]].isna().any().any()


def test_bootstrap_level_matches_a_plain_loop_over_resampled_grids():
    grid = _grid(r=6, s=5)
    x, y = grid.column("a"), grid.column("human")
    got = bootstrap_level([x, y], lambda bx, by: level_correlation(
        bx, by, level="summary", method="spearman").value, resample="both", n_resamples=20,
        seed=3)
    rows, cols = bootstrap_indices(x.shape, (True, True), n_resamples=20, seed=3)
    for b in range(20):
        sx, sy = x[rows[b]][:, cols[b]], y[rows[b]][:, cols[b]]
        vals = [stats.spearmanr(sx[i], sy[i]).statistic for i in range(6)
                if np.ptp(sx[i]) > 0 and np.ptp(sy[i]) > 0]
        want = np.mean(vals) if vals else np.nan
        np.testing.assert_allclose(got[b], want, atol=1e-12)


def test_inputs_only_resampling_of_summary_level_is_a_mean_bootstrap():
    # with systems fixed, the summary-level statistic is a mean of per-input correlations, so
    # BOOT-INPUTS equals bootstrap_ci of those values with the same draws
    grid = _grid(r=15, s=6)
    x, y = grid.column("a"), grid.column("human")
    per_input = [stats.pearsonr(x[i], y[i]).statistic for i in range(15)]
    got = bootstrap_level([x, y], lambda bx, by: level_correlation(
        bx, by, level="summary", method="pearson").value, resample="inputs", n_resamples=100,
        seed=5)
    rows, _ = bootstrap_indices((15, 6), (True, False), n_resamples=100, seed=5)
    np.testing.assert_allclose(got, np.asarray(per_input)[rows].mean(axis=1), atol=1e-12)


def test_paired_comparison_finds_the_better_metric():
    grid = _grid(r=30, s=8, noise_b=3.0)
    cfg = CorrelationConfig(levels=("summary", "sample"), methods=("pearson",),
                            resample="both", n_resamples=300, seed=0)
    res = compare_metrics(grid, "a", "b", ["human"], cfg)
    assert (res["delta"] > 0).all()
    assert (res["p_bootstrap"] < 0.05).all() and (res["p_permutation"] < 0.05).all()
    reverse = compare_metrics(grid, "b", "a", ["human"], cfg)
    assert (reverse["p_bootstrap"] > 0.95).all() and (reverse["p_permutation"] > 0.9).all()


def test_permutation_of_identical_metrics_gives_p_one():
    grid = _grid(r=10, s=5)
    a = grid.column("a")
    obs, perm = permutation_both(a, a.copy(), grid.column("human"), level="sample",
                                 method="kendall", n_permutations=50, seed=0)
    assert obs == 0.0
    assert permutation_pvalue(obs, perm) == 1.0


def test_pvalue_helpers():
    assert paired_bootstrap_pvalue(np.array([0.1, 0.2, -0.1, 0.0])) == 0.5
    assert permutation_pvalue(1.0, np.array([0.0, 2.0, 0.5])) == pytest.approx(2 / 4)


def test_williams_published_example():
    # psych::r.test(103, .4, .5, .1), "Steiger case A" in the psych documentation:
    # "t value -0.89 with probability < 0.37" (two-sided, df = n - 3)
    t, p_one = williams_test(0.4, 0.5, 0.1, 103)
    assert round(t, 2) == -0.89
    assert 2 * min(p_one, 1 - p_one) == pytest.approx(0.37, abs=0.01)
    assert p_one == pytest.approx(stats.t.sf(t, 100))


def test_williams_properties():
    t, p = williams_test(0.6, 0.6, 0.5, 20)
    assert t == 0 and p == pytest.approx(0.5)
    t1, _ = williams_test(0.8, 0.5, 0.3, 16)
    t2, _ = williams_test(0.5, 0.8, 0.3, 16)
    assert t1 == pytest.approx(-t2) and t1 > 0
    # the more correlated the two metrics, the more a fixed gap is significant
    assert williams_test(0.8, 0.6, 0.9, 16)[1] < williams_test(0.8, 0.6, 0.1, 16)[1]
    with pytest.raises(StatsError, match="more than 3"):
        williams_test(0.5, 0.4, 0.3, 3)


def test_williams_reported_at_system_level_only():
    grid = _grid(r=10, s=8)
    cfg = CorrelationConfig(levels=("system", "sample"), methods=("pearson", "kendall"),
                            n_resamples=50)
    res = compare_metrics(grid, "a", "b", ["human"], cfg)
    has = res["p_williams"].notna()
    assert list(res.loc[has, ["level", "method"]].itertuples(index=False, name=None)) == [
        ("system", "pearson")]
