"""RM analysis extras against scikit-learn and plain loops."""
import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss as sk_log_loss

from rlhf_eval.errors import DataError
from rlhf_eval.evaluation.reward_analysis import analyze_reward_model
from rlhf_eval.evaluation.reward_analysis import (best_of_n, brier, calibration_by_category,
                                                log_loss, margin_histogram)
from rlhf_eval.schema import PreferencePair


def _rewards(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1, n), rng.normal(0, 1, n)


def test_log_loss_and_brier_equal_sklearn():
    rc, rr = _rewards()
    p = 1 / (1 + np.exp(-(rc - rr)))
    # the outcome "chosen is better" is always 1; sklearn needs both labels declared
    y = np.ones_like(p)
    assert log_loss(rc, rr) == pytest.approx(sk_log_loss(y, p, labels=[0, 1]), abs=1e-9)
    assert brier(rc, rr) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert log_loss([800.0], [0.0]) == pytest.approx(0.0) and np.isfinite(log_loss([0.0], [800.0]))


def test_margin_histogram_and_per_category():
    rc, rr = _rewards()
    h = margin_histogram(rc, rr, bins=7)
    assert sum(h["counts"]) == 60 and h["negative"] == int(((rc - rr) < 0).sum())
    cats = ["x" if i % 3 else "y" for i in range(60)]
    per = calibration_by_category(rc, rr, cats)
    sel = np.array(cats) == "y"
    assert per["y"]["n"] == sel.sum()
    assert per["y"]["log_loss"] == pytest.approx(log_loss(rc[sel], rr[sel]))


def test_best_of_n_equals_loop():
    rng = np.random.default_rng(2)
    items = [rng.normal(size=4) for _ in range(50)] + [[1.0, 1.0, 0.0, 0.0]]  # a tie: wrong
    res = best_of_n(items, n_resamples=100)
    expect = np.mean([float(r[0] > max(r[1:])) for r in items])
    assert res["value"] == pytest.approx(expect) and res["chance"] == pytest.approx(0.25)
    assert res["ci_low"] <= res["value"] <= res["ci_high"] and res["n_items"] == 51
    with pytest.raises(DataError, match="item 1"):
        best_of_n([[1, 0], [1]])


def test_analyze_reward_model_reports_the_extras():
    rc, rr = _rewards(20)
    pairs = [PreferencePair("p", f"c{i}", f"r{i}", meta={"category": "a" if i % 2 else "b"})
             for i in range(20)]
    an = analyze_reward_model(rc, rr, pairs, n_resamples=50)
    assert an.calibration["log_loss"] == pytest.approx(log_loss(rc, rr))
    assert set(an.calibration["by_category"]) == {"a", "b"}
    assert sum(an.distributions["margin"]["counts"]) == 20
