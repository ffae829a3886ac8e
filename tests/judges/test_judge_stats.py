"""Judge statistics against independent computations (statsmodels, plain loops)."""
import numpy as np
import pytest

from rlhf_eval.evaluation.judges.stats import (bias_report, bt_intervals, fit_logistic,
                                               lc_winrate, length_feature)
from rlhf_eval.stats import StatsError
from rlhf_eval.evaluation.winrate import bradley_terry


def _table():
    # a small hand-made table: outcome of a vs b (ties included) and the two lengths
    outcome = np.array([1, 1, 0, 1, 0.5, 0, 1, 1, 0, 1, 0.5, 1, 0, 0, 1, 1, 0, 1])
    len_a = np.array([120, 80, 40, 200, 90, 60, 150, 95, 30, 170, 70, 110, 85, 45, 130, 60, 75, 190])
    len_b = np.array([60, 90, 100, 50, 90, 70, 80, 100, 90, 60, 75, 80, 40, 60, 100, 70, 95, 100])
    return outcome, len_a, len_b


def test_lc_winrate_equals_statsmodels_glm():
    sm = pytest.importorskip("statsmodels.api")
    o, la, lb = _table()
    res = lc_winrate(o, la, lb, n_resamples=50, seed=0)
    d = la - lb
    x = np.tanh(d / np.std(d, ddof=1))
    glm = sm.GLM(o, sm.add_constant(x), family=sm.families.Binomial()).fit(tol=1e-14)
    b0, b1 = glm.params
    assert res.lc_winrate == pytest.approx(1 / (1 + np.exp(-b0)), abs=1e-6)
    assert res.length_coef == pytest.approx(b1, abs=1e-6)
    assert res.raw_winrate == pytest.approx(o.mean())
    assert res.ci_low <= res.lc_winrate <= res.ci_high
    assert res.n == len(o) and res.n_missing == 0
    # the length term soaks up the longer answers' advantage: LC is below the raw win-rate here
    assert b1 > 0 and res.lc_winrate < res.raw_winrate


def test_fit_logistic_linear_feature_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    o, la, lb = _table()
    x, scale = length_feature(la, lb, transform="linear")
    X = sm.add_constant(x)
    ours = fit_logistic(X, o)
    ref = sm.GLM(o, X, family=sm.families.Binomial()).fit(tol=1e-14).params
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_lc_winrate_without_length_effect_is_the_raw_winrate():
    # equal lengths: the length term is constant 0 and the intercept is logit(mean outcome)
    o = np.array([1, 0, 1, 1, 0.5, 0, 1, 0])
    res = lc_winrate(o, np.full(8, 50), np.full(8, 50), n_resamples=20)
    assert res.lc_winrate == pytest.approx(o.mean(), abs=1e-9)


def test_lc_winrate_separation_and_bad_input():
    with pytest.raises(StatsError, match="no finite fit"):
        lc_winrate([1, 1, 1, 1], [1, 2, 3, 4], [4, 3, 2, 1], n_resamples=10)
    with pytest.raises(StatsError, match="differ in length"):
        lc_winrate([1, 0], [1], [2, 3])
    with pytest.raises(StatsError, match="1 \\(win\\)"):
        lc_winrate([1, 0.3, 0], [1, 2, 3], [3, 2, 1])
    assert fit_logistic(np.column_stack([np.ones(4), [-2, -1, 1, 2]]), np.array([0, 0, 1, 1])) is None


def test_bt_intervals_point_estimate_and_interval():
    rng = np.random.default_rng(3)
    true = {"base": 0.0, "ck1": 0.8, "ck2": -0.5}
    comps = []
    for _ in range(150):
        i, j = rng.choice(list(true), size=2, replace=False)
        p = 1 / (1 + np.exp(-(true[i] - true[j])))
        comps.append((str(i), str(j), float(rng.random() < p)))
    players = list(true)
    tab = bt_intervals(comps, players, anchor="base", n_resamples=100, seed=1)
    point = bradley_terry(comps, players, anchor="base", l2=0.01)
    for _, r in tab.iterrows():
        assert r["strength"] == pytest.approx(point[r["player"]])
        assert r["ci_low"] <= r["strength"] <= r["ci_high"]
    assert list(tab["player"]) == ["ck1", "base", "ck2"]
    assert tab.set_index("player").loc["base", "n_comparisons"] == sum(
        "base" in c[:2] for c in comps)


def _constructed(n=200, flip_every=5, seed=0):
    """Items where the judge prefers the longer answer unless it flips with the order."""
    rng = np.random.default_rng(seed)
    la = rng.integers(20, 200, n)
    lb = rng.integers(20, 200, n)
    lb[::17] = la[::17]                           # some equal lengths
    longer = np.where(la >= lb, "a", "b")
    first_ab, first_ba, verdict = [], [], []
    for i in range(n):
        v = longer[i]
        p_ab = "first" if v == "a" else "second"
        p_ba = "second" if v == "a" else "first"
        if i % flip_every == 0:                   # position-biased item: always says "first"
            p_ab = p_ba = "first"
        if i % 23 == 0:
            p_ba = None                            # a parse failure
        first_ab.append(p_ab)
        first_ba.append(p_ba)
        verdict.append(v if i % flip_every else "tie")
    human = np.where(rng.random(n) < 0.6, longer, np.where(longer == "a", "b", "a"))
    return first_ab, first_ba, verdict, la, lb, list(human)


def test_bias_report_equals_independent_loops():
    first_ab, first_ba, verdict, la, lb, human = _constructed()
    sys_a = ["judge" if i % 3 == 0 else "other" for i in range(len(la))]
    sys_b = ["other"] * len(la)
    rep = bias_report(first_ab, first_ba, verdict, la, lb, human=human, system_a=sys_a,
                      system_b=sys_b, judge_system="judge", n_resamples=200, seed=0)
    n = len(la)
    # independent computation with plain loops
    fails = sum(p is None for p in first_ab + first_ba)
    assert rep["parse_failures"] == fails
    assert rep["parse_failure_rate"]["estimate"] == pytest.approx(fails / (2 * n))
    flips = both = 0
    for p1, p2 in zip(first_ab, first_ba):
        if p1 is None or p2 is None:
            continue
        both += 1
        item1 = {"first": "a", "second": "b", "tie": "tie"}[p1]
        item2 = {"first": "b", "second": "a", "tie": "tie"}[p2]
        flips += item1 != item2
    assert rep["flip_rate"]["estimate"] == pytest.approx(flips / both)
    # constructed: every 5th item flips (those not failing to parse)
    expected = [i for i in range(n) if i % 5 == 0 and first_ba[i] is not None]
    assert flips == len(expected)
    firsts = sum(p == "first" for p in first_ab + first_ba)
    decisive = sum(p in ("first", "second") for p in first_ab + first_ba)
    assert rep["first_position_win_rate"]["estimate"] == pytest.approx(firsts / decisive)
    lon = [(v == ("a" if a > b else "b")) for v, a, b in zip(verdict, la, lb)
           if v in ("a", "b") and a != b]
    assert rep["p_prefers_longer"]["estimate"] == pytest.approx(np.mean(lon))
    assert rep["p_prefers_longer"]["estimate"] == 1.0   # constructed: always the longer one
    hl = [(h == ("a" if a > b else "b")) for h, a, b in zip(human, la, lb) if a != b]
    assert rep["p_prefers_longer_human"]["estimate"] == pytest.approx(np.mean(hl))
    own = [(1.0 if v == "a" else 0.5 if v == "tie" else 0.0)
           for v, s in zip(verdict, sys_a) if s == "judge"]
    assert rep["self_preference"]["estimate"] == pytest.approx(np.mean(own))
    for key in ("flip_rate", "first_position_win_rate", "p_prefers_longer_human"):
        f = rep[key]
        assert f["ci_low"] <= f["estimate"] <= f["ci_high"]
    # flags: the flips and the length preference are found, and said
    text = " ".join(rep["flags"])
    assert "order-inconsistent" in text and "length bias" in text


def test_unbiased_judge_raises_no_flag():
    n = 200
    rng = np.random.default_rng(1)
    pref = rng.choice(["a", "b"], n)
    first_ab = ["first" if p == "a" else "second" for p in pref]
    first_ba = ["second" if p == "a" else "first" for p in pref]
    la = rng.integers(20, 200, n)
    lb = rng.integers(20, 200, n)
    rep = bias_report(first_ab, first_ba, list(pref), la, lb, n_resamples=200)
    assert rep["flip_rate"]["estimate"] == 0.0
    assert rep["flags"] == [], rep["flags"]


def test_lc_winrate_refuses_to_extrapolate():
    with pytest.raises(StatsError, match="same sign"):
        lc_winrate([1, 0, 1, 1], [50, 60, 70, 80], [10, 20, 30, 40], n_resamples=10)
