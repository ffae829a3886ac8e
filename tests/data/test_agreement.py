"""Agreement coefficients against published examples and independent computations."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from rlhf_eval.agreement import (agreement_table, cohen_kappa, consensus, expert_agreement,
                                 krippendorff_alpha, percent_agreement,
                                 pooled_percent_agreement, rating_matrices)
from rlhf_eval.errors import DataError
from rlhf_eval.io import write_records
from rlhf_eval.schema import Judgement, PairwiseChoice

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers,
# 12 units, values 1-5; published alphas: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPP_C = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
           [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
           [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
           [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
# the example in the `krippendorff` package README: nominal 0.691, interval 0.811
KRIPP_README = [[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
                [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
                [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]]


def hand_alpha(matrix, metric):
    """Krippendorff's alpha from the coincidence matrix, written out (Krippendorff 2011)."""
    data = np.asarray(matrix, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for unit in data.T:
        vals = unit[~np.isnan(unit)]
        m = len(vals)
        if m < 2:
            continue
        for a, b in itertools.permutations(range(m), 2):
            o[index[vals[a]], index[vals[b]]] += 1 / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if metric == "nominal":
        delta = 1.0 - np.eye(len(values))
    else:  # interval
        delta = (values[:, None] - values[None, :]) ** 2
    expected = (np.outer(n_c, n_c) * delta).sum()
    return 1 - (n - 1) * (o * delta).sum() / expected


def test_krippendorff_published_examples():
    assert krippendorff_alpha(KRIPP_C, level="nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(KRIPP_C, level="ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(KRIPP_C, level="interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(KRIPP_README, level="nominal") == pytest.approx(0.691, abs=5e-4)
    assert krippendorff_alpha(KRIPP_README, level="interval") == pytest.approx(0.811, abs=5e-4)


@pytest.mark.parametrize("level", ["nominal", "interval"])
def test_krippendorff_matches_hand_computation_on_random_data(level):
    rng = np.random.default_rng(7)
    for _ in range(5):
        data = rng.integers(1, 6, size=(4, 30)).astype(float)
        data[rng.random(data.shape) < 0.3] = nan
        assert krippendorff_alpha(data, level=level) == pytest.approx(
            hand_alpha(data, level), abs=1e-10)
    assert hand_alpha(KRIPP_C, "nominal") == pytest.approx(0.743, abs=5e-4)


def test_alpha_undefined_cases_are_nan():
    assert np.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))  # one value only
    assert np.isnan(krippendorff_alpha([[1, nan], [nan, 2]]))  # nothing pairable
    with pytest.raises(DataError, match="unknown level"):
        krippendorff_alpha([[1, 2], [2, 1]], level="ratio-ish")


def test_cohen_kappa_hand_examples():
    # Wikipedia's example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po 0.7, pe 0.5, k 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert percent_agreement(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    # missing ratings are left out pairwise
    assert percent_agreement(a + [None], b + ["y"]) == pytest.approx(0.7)
    assert np.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))
    assert np.isnan(percent_agreement([None], [1]))


@pytest.mark.parametrize("level,power", [("ordinal", 1), ("interval", 2)])
def test_weighted_kappa_matches_the_formula(level, power):
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 1, 5)
    cats = np.arange(1, 6)
    obs = np.zeros((5, 5))
    for x, y in zip(a, b):
        obs[x - 1, y - 1] += 1
    exp = np.outer(obs.sum(1), obs.sum(0)) / obs.sum()
    w = np.abs(cats[:, None] - cats[None, :]) ** power
    hand = 1 - (w * obs).sum() / (w * exp).sum()
    assert cohen_kappa(list(a), list(b), level=level) == pytest.approx(hand, abs=1e-12)


def test_pooled_percent_agreement_by_hand():
    # item 1: three agree (3 of 3 pairs); item 2: 1,1,2 (1 of 3); item 3: 1,2 rated (0 of 1)
    m = [[1, 1, 1], [1, 1, 2], [1, 2, nan]]
    assert pooled_percent_agreement(m) == pytest.approx((3 + 1 + 0) / 7)
    assert pooled_percent_agreement([[1, 2], [1, 3]]) == percent_agreement([1, 2], [1, 3])


def _judgements(matrix, aspect="rel"):
    return [Judgement(f"s{i}", aspect, float(v), f"ann{k}")
            for k, row in enumerate(matrix) for i, v in enumerate(row) if not np.isnan(v)]


def test_agreement_table_on_judgements():
    records = _judgements(KRIPP_C) + _judgements(KRIPP_README, aspect="flu")
    table = agreement_table(records, level="nominal").set_index("aspect")
    assert table.loc["rel", "krippendorff_alpha"] == pytest.approx(0.743, abs=5e-4)
    assert table.loc["flu", "krippendorff_alpha"] == pytest.approx(0.691, abs=5e-4)
    assert table.loc["rel", "n_items"] == 12 and table.loc["rel", "n_annotators"] == 4
    assert table.loc["rel", "n_ratings"] == int((~np.isnan(np.array(KRIPP_C))).sum())
    data = np.array(KRIPP_C)
    kappas = []
    for i, j in itertools.combinations(range(4), 2):
        both = ~np.isnan(data[i]) & ~np.isnan(data[j])
        kappas.append(cohen_kappa_score(data[i][both], data[j][both]))
    assert table.loc["rel", "cohen_kappa"] == pytest.approx(np.mean(kappas))
    assert table.loc["rel", "percent_agreement"] == pytest.approx(pooled_percent_agreement(data))


def test_choices_are_oriented_before_comparing():
    # (x, y, a) and (y, x, b) are the same judgement: x is better
    records = [PairwiseChoice("x", "y", "a", "u1"), PairwiseChoice("y", "x", "b", "u2"),
               PairwiseChoice("x", "z", "tie", "u1"), PairwiseChoice("z", "x", "tie", "u2"),
               PairwiseChoice("y", "z", "a", "u1"), PairwiseChoice("z", "y", "a", "u2")]
    (matrix,) = rating_matrices(records).values()
    assert matrix.loc["u1"].tolist() == [0.0, 1.0, 0.0]  # items "x | y", "x | z", "y | z"
    assert matrix.loc["u2"].tolist() == [0.0, 1.0, 2.0]
    row = agreement_table(records).iloc[0]
    assert row["aspect"] == "choice" and row["level"] == "nominal"
    assert row["percent_agreement"] == pytest.approx(2 / 3)
    assert row["cohen_kappa"] == pytest.approx(cohen_kappa_score(["a", "t", "a"],
                                                                 ["a", "t", "b"]))
    assert row["krippendorff_alpha"] == pytest.approx(hand_alpha(matrix.to_numpy(), "nominal"))


def test_expert_agreement_against_a_hand_consensus():
    experts = {"e1": [1, 2, 3, 4, 5, 3], "e2": [1, 2, 4, 4, 5, 2], "e3": [2, 2, 3, 5, 4, 3]}
    worker = [1, 2, 3, 5, 4, 1]
    records = [Judgement(f"s{i}", "rel", float(v), name)
               for name, row in {**experts, "w": worker}.items() for i, v in enumerate(row)]
    gold = [1, 2, 3, 4, 5, 3]  # lower median of the three experts per item
    row = expert_agreement(records, ["e1", "e2", "e3"]).iloc[0]
    assert row["annotator"] == "w" and row["n_items"] == 6 and row["level"] == "ordinal"
    assert row["percent_agreement"] == pytest.approx(3 / 6)
    assert row["cohen_kappa"] == pytest.approx(cohen_kappa_score(worker, gold, weights="linear"))
    assert row["krippendorff_alpha"] == pytest.approx(
        krippendorff_alpha([worker, gold], level="ordinal"))
    assert row["mean_abs_diff"] == pytest.approx(np.mean(np.abs(np.subtract(worker, gold))))


def test_nominal_consensus_ties_are_left_out_and_counted():
    assert consensus(["a", "a", "b"], "nominal") == "a"
    assert consensus(["a", "b"], "nominal") is None
    assert consensus([1, 2, 3, 4], "ordinal") == 2
    records = [PairwiseChoice("x", "y", "a", "e1"), PairwiseChoice("x", "y", "b", "e2"),
               PairwiseChoice("x", "y", "a", "w"),
               PairwiseChoice("p", "q", "a", "e1"), PairwiseChoice("p", "q", "a", "e2"),
               PairwiseChoice("p", "q", "a", "w"),
               PairwiseChoice("r", "s", "tie", "e1"), PairwiseChoice("r", "s", "b", "w")]
    row = expert_agreement(records, ["e1", "e2"]).iloc[0]
    assert row["n_items"] == 2 and row["n_no_consensus"] == 1
    assert row["percent_agreement"] == pytest.approx(1 / 2)


def test_agreement_input_errors():
    with pytest.raises(DataError, match=r"record 2: field 'annotator'"):
        agreement_table([Judgement("s", "a", 1.0, "x"), Judgement("s", "a", 2.0)])
    with pytest.raises(DataError, match="rated item 's' twice"):
        agreement_table([Judgement("s", "a", 1.0, "x"), Judgement("s", "a", 2.0, "x")])
    with pytest.raises(DataError, match=r"expert annotator\(s\) \['boss'\] not found"):
        expert_agreement(_judgements(KRIPP_C), ["boss"])


def test_agreement_cli(tmp_path, cli):
    path = tmp_path / "j.jsonl"
    write_records(path, _judgements(KRIPP_C))
    code, out, _ = cli("agreement", path, "--level", "nominal", "--expert", "ann0", "ann3",
                       "--out", tmp_path / "agreement.csv")
    assert code == 0 and "0.7434" in out and "agreement with the expert consensus" in out
    table = pd.read_csv(tmp_path / "agreement.csv")
    assert table.loc[0, "krippendorff_alpha"] == pytest.approx(0.743, abs=5e-4)
    expert = pd.read_csv(tmp_path / "agreement-expert.csv")
    assert sorted(expert["annotator"]) == ["ann1", "ann2"]
    code, _, err = cli("agreement", path, "--expert", "nobody")
    assert code == 2 and "not found" in err
    code, _, err = cli("agreement", path, "--out", tmp_path / "x.txt")
    assert code == 2 and "expected a .csv or .json" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sample_id": "s", "aspect": "a", "score": "high"}) + "\n")
    code, _, err = cli("agreement", bad, "--kind", "judgement")
    assert code == 2 and f"{bad}:1: field 'score'" in err
