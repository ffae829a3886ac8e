"""RM analysis numbers against independent computations (hand examples, scipy, numpy)."""
import numpy as np
import pytest
from scipy import stats

from rlhf_eval.errors import DataError
from rlhf_eval.evaluation.reward_analysis import (analyze_reward_model, calibration, correct,
                                                  length_bias, section_scores, sigmoid)
from rlhf_eval.schema import PreferencePair


def test_ece_on_a_hand_example():
    # deltas chosen so that sigma(delta) is known: logit(p) = log(p / (1 - p))
    def logit(p):
        return np.log(p / (1 - p))

    p = np.array([0.55, 0.58, 0.92, 0.95, 0.2, 0.97])
    r_c, r_r = logit(p), np.zeros(6)
    cal = calibration(r_c, r_r, n_bins=5)  # bins of width 0.1 over [0.5, 1]
    # confidences: .55 .58 (bin 0, both right), .92 .95 .97 (bin 4, right), .8 (bin 3, wrong)
    b0 = abs(1.0 - (0.55 + 0.58) / 2)
    b3 = abs(0.0 - 0.8)
    b4 = abs(1.0 - (0.92 + 0.95 + 0.97) / 3)
    expected = (2 * b0 + 1 * b3 + 3 * b4) / 6
    assert cal["ece"] == pytest.approx(expected, abs=1e-12)
    assert [b["n"] for b in cal["bins"]] == [2, 0, 0, 1, 3]
    assert cal["bins"][3]["accuracy"] == 0.0
    assert cal["brier"] == pytest.approx(np.mean((p - 1) ** 2))


def test_sigmoid_is_stable_and_matches_scipy():
    x = np.array([-1000.0, -3.0, 0.0, 2.5, 1000.0])
    np.testing.assert_allclose(sigmoid(x), stats.logistic.cdf(x))


def test_tie_counts_as_wrong():
    assert correct([1.0, 2.0, 3.0], [0.0, 2.0, 4.0]).tolist() == [1.0, 0.0, 0.0]


def test_nan_rewards_are_refused():
    with pytest.raises(DataError, match="non-finite"):
        correct([1.0, np.nan], [0.0, 0.0])


def _pairs(n, seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        lc, lr = rng.integers(1, 30, size=2)
        pairs.append(PreferencePair("p", "c" * int(lc) + str(i), "r" * int(lr) + str(i),
                                    annotator=f"a{i % 3}",
                                    meta={"category": "chat" if i % 2 else "safety",
                                          "subset": f"s{i % 4}",
                                          "gold_chosen": float(i % 5), "gold_rejected": 2.0}))
    return pairs


def test_accuracy_ci_reproducible_and_close_to_scipy():
    rng = np.random.default_rng(0)
    r_c, r_r = rng.normal(0.5, 1, 400), rng.normal(0, 1, 400)
    pairs = _pairs(400, 1)
    a = analyze_reward_model(r_c, r_r, pairs, seed=7, n_resamples=2000)
    b = analyze_reward_model(r_c, r_r, pairs, seed=7, n_resamples=2000)
    c = analyze_reward_model(r_c, r_r, pairs, seed=8, n_resamples=2000)
    assert a.accuracy == b.accuracy
    assert a.accuracy["ci_low"] != c.accuracy["ci_low"] or a.accuracy["ci_high"] != \
        c.accuracy["ci_high"]
    hits = (r_c > r_r).astype(float)
    assert a.accuracy["value"] == hits.mean()
    ref = stats.bootstrap((hits,), np.mean, n_resamples=4000, method="percentile",
                          rng=np.random.default_rng(1)).confidence_interval
    assert a.accuracy["ci_low"] == pytest.approx(ref.low, abs=0.01)
    assert a.accuracy["ci_high"] == pytest.approx(ref.high, abs=0.01)


def test_section_scores_are_example_weighted():
    hits = np.array([1, 1, 1, 0, 0, 1], float)
    cats = ["chat"] * 4 + ["safety"] * 2
    subs = ["easy", "easy", "easy", "hard", "x", "x"]
    out = section_scores(hits, cats, subs)
    assert out["chat"]["weighted"] == pytest.approx((3 * 1.0 + 1 * 0.0) / 4)
    assert out["chat"]["unweighted"] == pytest.approx(0.5)
    assert out["safety"]["weighted"] == pytest.approx(0.5)


def test_length_bias_against_direct_computation():
    rng = np.random.default_rng(3)
    l_c, l_r = rng.integers(1, 100, 300), rng.integers(1, 100, 300)
    r_c, r_r = 0.02 * l_c + rng.normal(0, 1, 300), 0.02 * l_r + rng.normal(0, 1, 300)
    out = length_bias(r_c, r_r, l_c, l_r, seed=0, n_resamples=200)
    assert out["longer_baseline"]["value"] == pytest.approx(np.mean(l_c > l_r))
    lengths, rewards = np.concatenate([l_c, l_r]), np.concatenate([r_c, r_r])
    assert out["corr_reward_length"]["pearson"] == pytest.approx(
        stats.pearsonr(lengths, rewards).statistic)
    assert out["corr_reward_length"]["spearman"] == pytest.approx(
        stats.spearmanr(lengths, rewards).statistic)
    longer = l_c > l_r
    assert out["accuracy_chosen_longer"]["value"] == pytest.approx(np.mean((r_c > r_r)[longer]))
    assert out["accuracy_chosen_shorter"]["n"] == int(np.sum(l_c < l_r))


def test_full_analysis_groups_gold_and_table():
    rng = np.random.default_rng(5)
    pairs = _pairs(120, 2)
    r_c, r_r = rng.normal(0.3, 1, 120), rng.normal(0, 1, 120)
    a = analyze_reward_model(r_c, r_r, pairs, seed=0, n_resamples=200)
    hits = r_c > r_r
    for name in ("a0", "a1", "a2"):
        sel = np.array([p.annotator == name for p in pairs])
        assert a.by_annotator[name]["value"] == pytest.approx(hits[sel].mean())
    g_c = np.array([p.meta["gold_chosen"] for p in pairs])
    sel = g_c != 2.0
    rm_gold = np.where(g_c > 2.0, r_c > r_r, r_r > r_c)[sel]
    assert a.gold["value"] == pytest.approx(rm_gold.mean())
    assert a.gold["n"] == int(sel.sum())
    assert set(a.sections) == {"chat", "safety"}
    assert a.distributions["chosen"]["mean"] == pytest.approx(r_c.mean())
    assert sum(a.distributions["rejected"]["histogram"]) == 120
    table = a.table()
    row = table[(table.section == "overall") & (table.metric == "accuracy")].iloc[0]
    assert row.value == pytest.approx(hits.mean()) and row.n == 120
    assert {"subset", "category", "annotator", "section", "length", "calibration"} <= \
        set(table.section)
    import json
    json.dumps(a.to_dict(), allow_nan=False)  # JSON-ready, no NaN
