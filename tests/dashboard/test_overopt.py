"""The over-optimization fit recovers known parameters (Gao et al. 2022, RL form)."""
import math

import numpy as np
import pytest

from rlhf_eval.dashboard.overopt import fit_overoptimization, gold_curve
from rlhf_eval.errors import DataError


def _synthetic(a, b, noise, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    kl = np.linspace(0.0, 30.0, 60)
    d = np.sqrt(kl)
    gold = np.where(d > 0, d * (a - b * np.log(np.where(d > 0, d, 1))), 0.0)
    return kl, gold + offset + rng.normal(0, noise, kl.size)


@pytest.mark.parametrize("a,b", [(1.0, 0.5), (0.4, 0.3), (2.0, 1.2)])
def test_recovers_known_parameters_without_noise(a, b):
    kl, gold = _synthetic(a, b, noise=0.0)
    fit = fit_overoptimization(kl, gold)
    assert fit.a == pytest.approx(a, abs=1e-6)
    assert fit.b == pytest.approx(b, abs=1e-6)
    assert fit.rmse < 1e-8


def test_recovers_parameters_within_their_standard_error_with_noise():
    kl, gold = _synthetic(1.0, 0.5, noise=0.05, seed=3, offset=0.2)
    fit = fit_overoptimization(kl, gold, gold_at_init=0.2)
    assert abs(fit.a - 1.0) < 4 * fit.a_stderr
    assert abs(fit.b - 0.5) < 4 * fit.b_stderr
    assert fit.rmse == pytest.approx(0.05, rel=0.35)


def test_peak_matches_a_numerical_argmax():
    a, b = 1.0, 0.5
    kl, gold = _synthetic(a, b, noise=0.0)
    fit = fit_overoptimization(kl, gold)
    d = np.linspace(1e-6, 10, 200_001)
    d_star = d[np.argmax(gold_curve(d, a, b))]
    assert fit.d_peak == pytest.approx(d_star, abs=1e-3)
    assert fit.kl_peak == pytest.approx(d_star ** 2, abs=1e-2)
    assert fit.gold_peak == pytest.approx(gold_curve(d_star, a, b), abs=1e-6)


def test_offset_is_added_back_in_predictions():
    kl, gold = _synthetic(0.8, 0.4, noise=0.0, offset=1.5)
    fit = fit_overoptimization(kl, gold, gold_at_init=1.5)
    np.testing.assert_allclose(fit.predict(kl), gold, atol=1e-6)
    assert fit.predict([0.0])[0] == pytest.approx(1.5)


def test_no_peak_when_gold_never_turns_down():
    kl = np.linspace(0.1, 10, 20)
    fit = fit_overoptimization(kl, 0.5 * np.sqrt(kl))  # b = 0: linear in d
    assert fit.b == pytest.approx(0.0, abs=1e-6)
    assert math.isinf(fit.d_peak) or fit.d_peak > 1e6  # no turning point in reach


def test_gold_curve_is_zero_at_zero_and_never_nan():
    out = gold_curve(np.array([0.0, 1.0]), 1.0, 0.5)
    assert out[0] == 0.0 and out[1] == pytest.approx(1.0)


def test_too_few_points_and_shape_mismatch_are_errors():
    with pytest.raises(DataError, match="at least 3 points"):
        fit_overoptimization([0.0, 1.0, 2.0], [0.0, 0.5, 0.6])
    with pytest.raises(DataError, match="as many gold values"):
        fit_overoptimization([1.0, 2.0, 3.0], [1.0, 2.0])


def test_negative_kl_estimates_are_clipped_and_nan_dropped():
    kl, gold = _synthetic(1.0, 0.5, noise=0.0)
    kl = np.concatenate([kl, [-0.01, np.nan]])
    gold = np.concatenate([gold, [0.0, 1.0]])
    fit = fit_overoptimization(kl, gold)
    assert fit.a == pytest.approx(1.0, abs=1e-6) and fit.n == 61
