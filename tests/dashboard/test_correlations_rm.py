"""Correlations and reward-model page data, checked against scipy / hand computations."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rlhf_eval.dashboard import correlations as C
from rlhf_eval.dashboard import rm as RM
from rlhf_eval.dashboard import source
from rlhf_eval.errors import DataError


@pytest.fixture(scope="module")
def summeval_scored(tmp_path_factory):
    return C.score_summeval(4, ("rouge", "chrf"), cache_dir=tmp_path_factory.mktemp("cache"))


def test_summeval_subset_and_system_level_against_scipy(summeval_scored):
    table, metrics = summeval_scored
    assert table["doc_id"].nunique() == 4 and len(table) == 64
    assert {"rouge1", "rougeL", "chrf"} <= set(metrics)
    # Pearson: rank methods would hinge on float near-ties of averaged 1/3-step ratings
    matrix = C.correlation_matrix(table, ["rouge1"], ["relevance"], level="system",
                                  method="pearson", n_resamples=50)
    means = table.groupby("system")[["rouge1", "relevance"]].mean()
    expect = stats.pearsonr(means["rouge1"], means["relevance"]).statistic
    assert matrix["value"].item() == pytest.approx(expect, abs=1e-9)
    pooled = C.correlation_matrix(table, ["chrf"], ["coherence"], level="sample",
                                  method="pearson", n_resamples=50)
    assert pooled["value"].item() == pytest.approx(
        stats.pearsonr(table["chrf"], table["coherence"]).statistic, abs=1e-9)
    assert matrix["ci_low"].item() <= matrix["ci_high"].item()


def test_undefined_cell_is_nan_with_a_reason(summeval_scored):
    table, _ = summeval_scored
    table = table.assign(constant=1.0)
    out = C.correlation_matrix(table, ["constant", "chrf"], ["relevance"], level="sample",
                               method="pearson", n_resamples=20)
    const = out[out["metric"] == "constant"].iloc[0]
    assert np.isnan(const["value"]) and "constant" in const["note"]
    assert np.isfinite(out[out["metric"] == "chrf"]["value"].item())


def test_precomputed_tables_are_found_and_validated(tmp_path):
    rows = [{"metric": "rouge1", "aspect": "relevance", "level": "system",
             "method": "kendall", "value": 0.5}]
    (tmp_path / "correlations").mkdir()
    (tmp_path / "correlations" / "correlations.json").write_text(json.dumps(
        {"correlations": rows}))
    found = C.find_precomputed([tmp_path])
    assert found == [tmp_path / "correlations" / "correlations.json"]
    table = C.read_correlation_table(found[0])
    assert table["value"].item() == 0.5 and np.isnan(table["ci_low"].item())
    pd.DataFrame([{"metric": "x"}]).to_csv(tmp_path / "correlations.csv", index=False)
    with pytest.raises(DataError, match="correlations.csv: field 'aspect'"):
        C.read_correlation_table(tmp_path / "correlations.csv")


def test_store_human_table_joins_judgments_with_scores(store_path):
    scores = source.read(store_path, "scores_frame")
    judgments = source.read(store_path, "human_judgments")
    table, metrics, aspects = C.store_human_table(scores, judgments)
    assert aspects == ["human_overall"] and "reward" in metrics
    assert len(table) == judgments["gen_id"].nunique()
    gid = judgments["gen_id"].iloc[0]
    row = table.set_index("gen_id").loc[gid]
    expect = scores[(scores["gen_id"] == gid) & (scores["metric"] == "reward")]["value"].item()
    assert row["reward"] == pytest.approx(expect)
    assert row["human_overall"] == judgments[judgments["gen_id"] == gid]["score"].mean()


def test_pairwise_metric_agreement_by_hand():
    labels = pd.DataFrame({"gen_a": ["a1", "a2", "a3", "a4"], "gen_b": ["b1", "b2", "b3", "b4"],
                           "winner": ["a", "b", "a", "tie"], "sample_id": ["s1", "s2", "s3", "s4"]})
    scores = pd.DataFrame({"gen_id": ["a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"],
                           "metric": "m", "value": [2, 1, 2, 1, 5, 5, 0, 9]})
    out = C.pairwise_metric_agreement(labels, scores, n_resamples=100).iloc[0]
    # pair 1 agrees, pair 2 disagrees, pair 3 is a metric tie (a miss), pair 4 a human tie
    assert (out["n_decided"], out["agree"], out["disagree"], out["metric_ties"],
            out["human_ties"]) == (3, 1, 1, 1, 1)
    assert out["agreement"] == pytest.approx(1 / 3)
    assert out["agreement_excluding_metric_ties"] == pytest.approx(1 / 2)
    lower = C.pairwise_metric_agreement(labels, scores, {"m": False}, n_resamples=100)
    assert (lower["agree"].item(), lower["disagree"].item()) == (1, 1)  # 1 and 2 swap


def test_summeval_pairwise_and_precomputed_pairwise(summeval_scored, tmp_path):
    table, _ = summeval_scored
    out = C.summeval_pairwise(table, ["chrf"], ["relevance"], n_resamples=20)
    assert 0 <= out["agreement"].item() <= 1 and out["n_pairs"].item() == 4 * 120
    (tmp_path / "correlations.json").write_text(json.dumps(
        {"correlations": [], "pairwise_agreement": out.to_dict(orient="records")}))
    assert C.read_pairwise_table(tmp_path / "correlations.json")["metric"].tolist() == ["chrf"]
    # a CSV table reads the pairwise rows of the JSON beside it, when there is one
    assert len(C.read_pairwise_table(tmp_path / "correlations.csv")) == 1
    (tmp_path / "only_csv").mkdir()
    assert C.read_pairwise_table(tmp_path / "only_csv" / "correlations.csv").empty


def test_rm_frames_from_a_real_analysis(store_dir):
    folder = store_dir / "rm" / "eval"
    assert RM.find_rm_evals([store_dir]) == [folder]
    result = RM.load_result(folder)
    pairs = RM.load_pairs(folder)
    acc = RM.accuracy_frame(result).set_index("what")
    hits = (pairs["reward_chosen"] > pairs["reward_rejected"]).mean()
    assert acc.loc["RM accuracy", "value"] == pytest.approx(hits)
    cats = RM.group_frame(result, "by_category")
    assert sorted(cats["what"]) == ["chat", "reasoning", "safety"]
    assert cats["n"].sum() == len(pairs)
    cal = RM.calibration_frame(result)
    assert cal["n"].sum() == len(pairs) and cal["confidence"].between(0.5, 1).all()
    long = RM.reward_long(result, pairs)
    assert len(long) == 2 * len(pairs)
    from_hist = RM.reward_long(result, None)  # rebuilt from the JSON histogram
    assert len(from_hist) == 2 * len(pairs)
    assert from_hist.groupby("side")["reward"].mean()["chosen"] == pytest.approx(
        pairs["reward_chosen"].mean(), abs=0.2)
    assert set(RM.length_frame(result)["what"]) >= {"always pick the longer answer"}


def test_rm_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="rm_eval.json"):
        RM.load_result(tmp_path)
    (tmp_path / "rm_eval.json").write_text(json.dumps({"accuracy": {}}))
    with pytest.raises(DataError, match="field 'calibration'"):
        RM.load_result(tmp_path)
