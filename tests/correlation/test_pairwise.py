"""Pairwise agreement of metric preferences with human choices, ties explicit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.evaluation.correlation_pairwise import (agreement_table, choices_from_scores,
                                                       pairwise_agreement)
from rlhf_eval.stats import StatsError


def test_counts_by_hand():
    winner = ["a", "a", "b", "b", "tie", "a"]
    score_a = [2.0, 1.0, 0.0, 3.0, 1.0, 5.0]
    score_b = [1.0, 1.0, 1.0, 1.0, 2.0, 4.0]
    # pair 0 agree, 1 metric tie, 2 agree, 3 disagree, 4 human tie, 5 agree
    res = pairwise_agreement(winner, score_a, score_b, n_resamples=200, seed=0)
    assert (res.n_pairs, res.n_decided, res.human_ties) == (6, 5, 1)
    assert (res.agree, res.disagree, res.metric_ties) == (3, 1, 1)
    assert res.agreement == pytest.approx(3 / 5)
    assert res.agreement_excluding_metric_ties == pytest.approx(3 / 4)
    assert 0 <= res.ci_low <= res.agreement <= res.ci_high <= 1


def test_tolerance_turns_small_differences_into_ties():
    res = pairwise_agreement(["a", "b"], [1.0, 1.0], [0.999, 1.5], tolerance=0.01,
                             n_resamples=10, seed=0)
    assert (res.metric_ties, res.agree) == (1, 1)


def test_interval_is_seeded_and_clustered():
    rng = np.random.default_rng(0)
    n = 300
    groups = np.repeat(np.arange(30), 10)
    winner = np.where(rng.random(n) < 0.5, "a", "b")
    sa, sb = rng.normal(size=n), rng.normal(size=n)
    one = pairwise_agreement(winner, sa, sb, groups=groups, n_resamples=300, seed=1)
    two = pairwise_agreement(winner, sa, sb, groups=groups, n_resamples=300, seed=1)
    three = pairwise_agreement(winner, sa, sb, groups=groups, n_resamples=300, seed=2)
    assert one == two and (one.ci_low, one.ci_high) != (three.ci_low, three.ci_high)


def test_bad_input():
    with pytest.raises(DataError, match="winners"):
        pairwise_agreement(["x"], [1.0], [0.0], n_resamples=5)
    with pytest.raises(DataError, match="missing metric score"):
        pairwise_agreement(["a"], [np.nan], [0.0], n_resamples=5)
    with pytest.raises(StatsError, match="all 2 human choices are ties"):
        pairwise_agreement(["tie", "tie"], [1.0, 2.0], [0.0, 0.0], n_resamples=5)


def test_choices_from_scores_and_table(tidy):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    y = np.round(x, 0)
    t = tidy(x, y)
    pairs = choices_from_scores(t, id_col="doc", system_col="sys", score_col="h",
                                extra_cols=["m"])
    assert len(pairs) == 5 * 6
    assert {"input", "system_a", "system_b", "winner", "m_a", "m_b"} <= set(pairs.columns)
    first = pairs.iloc[0]
    assert first["winner"] == ("a" if y[0, 0] > y[0, 1] else "b" if y[0, 0] < y[0, 1] else "tie")
    table = agreement_table(t, metrics=["m"], aspects=["h"], id_col="doc", system_col="sys",
                            n_resamples=50, ceilings={"h": (0.8, 30)})
    row = table.iloc[0]
    # the metric is the unrounded human score: it never disagrees, it only splits human ties
    assert row["disagree"] == 0 and row["agreement"] == 1.0
    assert row["human_ties"] == int((pairs["winner"] == "tie").sum())
    assert table.iloc[1]["metric"] == "(inter-annotator)"


def test_explicit_choices_with_annotator_ceiling():
    from rlhf_eval.evaluation.correlation_pairwise import choices_agreement_table
    from rlhf_eval.schema import PairwiseChoice as C

    table = pd.DataFrame({"sample_id": ["x", "y", "z", "w"], "doc": ["d1", "d1", "d1", "d2"],
                          "m": [3.0, 2.0, 2.0, 1.0]})
    choices = [C("x", "y", "a", "ann1"), C("x", "y", "a", "ann2"),  # both agree with m
               C("y", "z", "a", "ann1"), C("y", "z", "b", "ann2"),  # m ties y and z
               C("z", "x", "tie", "ann1")]                          # human tie
    res = choices_agreement_table(table, choices, metrics=["m"], sample_id_col="sample_id",
                                  id_col="doc", n_resamples=20)
    row = res.iloc[0]
    assert (row["n_decided"], row["agree"], row["metric_ties"], row["human_ties"]) == (4, 2, 2, 1)
    assert row["agreement"] == 0.5
    ceiling = res.iloc[1]
    assert ceiling["metric"] == "(inter-annotator)" and ceiling["agreement"] == 0.5
    with pytest.raises(DataError, match=r"c.jsonl:2: field 'sample_b': no sample 'q'"):
        choices_agreement_table(table, [choices[0], C("x", "q", "a")], metrics=["m"],
                                sample_id_col="sample_id", source="c.jsonl", n_resamples=5)
