"""Win-rates and Bradley-Terry strengths against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rlhf_eval.evaluation.winrate import (WinRateError, baseline_pairs, bradley_terry,
                                          human_winrate_rows, outcomes, strengths_for_judge,
                                          win_rate, winrate_rows)


def test_outcomes_respect_direction_ties_and_missing():
    a = [3.0, 1.0, 2.0, np.nan, 5.0]
    b = [1.0, 2.0, 2.0, 1.0, 4.95]
    assert outcomes(a, b).tolist()[:3] == [1.0, 0.0, 0.5]
    assert math.isnan(outcomes(a, b)[3])
    assert outcomes(a, b, higher_is_better=False).tolist()[:3] == [0.0, 1.0, 0.5]
    assert outcomes(a, b, tol=0.1)[4] == 0.5 and outcomes(a, b)[4] == 1.0
    with pytest.raises(WinRateError, match="shapes"):
        outcomes([1.0], [1.0, 2.0])


def test_win_rate_by_hand():
    # 5 wins, 2 ties, 3 losses, 1 missing
    o = [1, 1, 1, 1, 1, 0.5, 0.5, 0, 0, 0, np.nan]
    half = win_rate(o, tie_policy="half", n_resamples=200)
    assert half.winrate == pytest.approx((5 + 0.5 * 2) / 10)
    assert (half.n, half.wins, half.ties, half.losses, half.n_missing) == (10, 5, 2, 3, 1)
    excl = win_rate(o, tie_policy="exclude", n_resamples=200)
    assert excl.winrate == pytest.approx(5 / 8) and excl.n == 8
    assert half.ci_low <= half.winrate <= half.ci_high
    # seeded: same seed same interval; the interval is the percentile bootstrap of the mean
    again = win_rate(o, tie_policy="half", n_resamples=200)
    assert (again.ci_low, again.ci_high) == (half.ci_low, half.ci_high)
    x = np.array([1, 1, 1, 1, 1, 0.5, 0.5, 0, 0, 0])
    rng = np.random.default_rng(0)
    boots = [x[rng.integers(0, 10, 10)].mean() for _ in range(200)]
    assert (half.ci_low, half.ci_high) == pytest.approx(tuple(np.quantile(boots, [.025, .975])))


def test_win_rate_all_ties_excluded_is_missing_not_half():
    wr = win_rate([0.5, 0.5, np.nan], tie_policy="exclude")
    assert math.isnan(wr.winrate) and wr.n == 0 and wr.ties == 2
    with pytest.raises(WinRateError, match="tie_policy"):
        win_rate([1.0], tie_policy="coin")


def test_bradley_terry_two_players_closed_form():
    # A beats B 7 times out of 10: MLE s_A - s_B = log(7/3)
    comps = [("A", "B", 1.0)] * 7 + [("A", "B", 0.0)] * 3
    s = bradley_terry(comps, ["A", "B"], anchor="B")
    assert s["B"] == 0.0
    assert s["A"] == pytest.approx(math.log(7 / 3), abs=1e-6)
    # a tie is half a win for each side: 6 wins + 2 ties of 10 -> 7/10
    comps = [("A", "B", 1.0)] * 6 + [("A", "B", 0.5)] * 2 + [("A", "B", 0.0)] * 2
    assert bradley_terry(comps, ["A", "B"], anchor="B")["A"] == pytest.approx(
        math.log(7 / 3), abs=1e-6)


def _mm_bradley_terry(wins: np.ndarray, iters: int = 20000) -> np.ndarray:
    """Hunter's (2004) MM algorithm: p_i <- W_i / sum_j n_ij / (p_i + p_j)."""
    n = wins + wins.T
    p = np.ones(len(wins))
    for _ in range(iters):
        denom = (n / (p[:, None] + p[None, :])).sum(axis=1)
        p = wins.sum(axis=1) / denom
        p /= p[0]
    return np.log(p)


def test_bradley_terry_three_players_matches_mm_algorithm():
    rng = np.random.default_rng(1)
    true = {"base": 0.0, "c1": 0.7, "c2": 1.5}
    players = list(true)
    comps, wins = [], np.zeros((3, 3))
    for _ in range(400):
        i, j = rng.choice(3, 2, replace=False)
        p = 1 / (1 + math.exp(-(true[players[i]] - true[players[j]])))
        o = float(rng.random() < p)
        comps.append((players[i], players[j], o))
        wins[i, j] += o
        wins[j, i] += 1 - o
    s = bradley_terry(comps, players, anchor="base")
    mm = _mm_bradley_terry(wins)
    assert [s[p] for p in players] == pytest.approx(list(mm), abs=1e-5)
    assert s["c2"] > s["c1"] > s["base"] == 0.0


def test_bradley_terry_separation_needs_l2_and_unseen_is_nan():
    comps = [("A", "B", 1.0)] * 5
    s = bradley_terry(comps, ["A", "B", "C"], anchor="B", l2=0.01)
    assert np.isfinite(s["A"]) and s["A"] > 3
    assert math.isnan(s["C"])
    with pytest.raises(WinRateError, match="anchor"):
        bradley_terry(comps, ["A", "B"], anchor="Z")


def test_baseline_pairs():
    cks = [("checkpoint-20", 20), ("baseline", 0), ("checkpoint-10", 10)]
    assert baseline_pairs(cks, "sft", "baseline") == [("checkpoint-10", "baseline"),
                                                      ("checkpoint-20", "baseline")]
    assert baseline_pairs(cks, "previous", "baseline") == [("checkpoint-10", "baseline"),
                                                           ("checkpoint-20", "checkpoint-10")]
    assert baseline_pairs(cks, "references", "baseline")[0] == ("checkpoint-10", "references")
    with pytest.raises(WinRateError, match="baseline"):
        baseline_pairs(cks, "best", "baseline")


def _frame(values: dict[str, list[float]], metric="reward"):
    rows = [{"checkpoint": ck, "sample_id": f"s{i}", "metric": metric, "value": v}
            for ck, vals in values.items() for i, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_winrate_rows_and_strengths_from_a_scores_frame():
    df = _frame({"baseline": [0, 0, 0, 0, np.nan], "ck": [1, 1, -1, 0, 2]})
    rows = winrate_rows(df, run="r", judges={"reward": True}, pairs=[("ck", "baseline")],
                        n_resamples=100)
    (row,) = rows
    assert (row["wins"], row["ties"], row["losses"], row["n"]) == (2, 1, 1, 4)
    assert row["winrate"] == pytest.approx(2.5 / 4)
    lower = winrate_rows(df, run="r", judges={"reward": False}, pairs=[("ck", "baseline")],
                         n_resamples=100)[0]
    assert lower["winrate"] == pytest.approx(1.5 / 4)
    s = strengths_for_judge(df, "reward", higher_is_better=True, anchor="baseline", l2=0.0)
    assert s["baseline"] == 0.0 and s["ck"] == pytest.approx(math.log(2.5 / 1.5), abs=1e-6)


def test_human_winrates_from_pairwise_labels():
    gens = pd.DataFrame({"gen_id": ["a1", "b1", "a2", "b2", "a3", "b3"],
                         "checkpoint": ["ck", "baseline"] * 3})
    labels = pd.DataFrame({"gen_a": ["a1", "b2", "a3"], "gen_b": ["b1", "a2", "b3"],
                           "winner": ["a", "a", "tie"]})
    (row,) = human_winrate_rows(labels, gens, run="r", pairs=[("ck", "baseline")],
                                n_resamples=50)
    # label 1: ck wins; label 2: shown swapped, baseline wins; label 3: tie
    assert (row["wins"], row["losses"], row["ties"]) == (1, 1, 1)
    assert row["winrate"] == pytest.approx(0.5) and row["judge"] == "human"
