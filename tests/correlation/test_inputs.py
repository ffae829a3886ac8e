"""Tables in, metric scores with a cache, and the bad-input cases."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.evaluation.correlation import grid_from_table
from rlhf_eval.evaluation.correlation_inputs import (TableSpec, add_metric_scores, lab_table,
                                                     read_table)


class CountingMetric:
    """A fake metric: score = len(prediction) - len(reference); counts the pairs it scores."""

    name = "fake"
    score_names = ("fake_diff", "fake_len")
    needs_references = True
    needs_prompts = False

    def __init__(self):
        self.calls = 0

    def signature(self):
        return "fake|v1"

    def sentence_scores(self, *, predictions, references=None, prompts=None):
        self.calls += len(predictions)
        assert all(len(r) == 1 for r in references)  # fed one reference at a time
        return {"fake_diff": np.array([len(p) - len(r[0]) for p, r in
                                       zip(predictions, references)], float),
                "fake_len": np.array([len(p) for p in predictions], float)}


SPEC = TableSpec(id_col="doc", system_col="sys", output_col="out", refs_col="refs",
                 human_cols=("h",))


def _table():
    return pd.DataFrame({"doc": ["d1", "d1", "d2"], "sys": ["A", "B", "A"],
                         "out": ["xx", "xxxx", "x"], "refs": [["a", "abc"], ["a", "abc"], ["ab"]],
                         "h": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize("agg, want", [("mean", [0.0, 2.0, -1.0]), ("max", [1.0, 3.0, -1.0])])
def test_per_reference_aggregation(agg, want, tmp_path):
    metric = CountingMetric()
    out, sigs = add_metric_scores(_table(), [metric], SPEC, multi_ref=agg, cache_dir=tmp_path)
    assert out["fake_diff"].tolist() == want
    assert sigs["fake_diff"] == f"fake|v1|multi_ref:{agg}"


def test_cache_skips_scored_pairs_and_is_keyed_by_signature(tmp_path):
    metric = CountingMetric()
    first, _ = add_metric_scores(_table(), [metric], SPEC, cache_dir=tmp_path)
    assert metric.calls == 5          # d1/A and d1/B x 2 references + d2/A
    again = CountingMetric()
    second, _ = add_metric_scores(_table(), [again], SPEC, multi_ref="max", cache_dir=tmp_path)
    assert again.calls == 0           # switching mean/max recomputes nothing
    bigger = pd.concat([_table(), pd.DataFrame({"doc": ["d2"], "sys": ["B"], "out": ["yyy"],
                                                "refs": [["ab"]], "h": [4.0]})],
                       ignore_index=True)
    third = CountingMetric()
    add_metric_scores(bigger, [third], SPEC, cache_dir=tmp_path)
    assert third.calls == 1           # only the new pair
    other = CountingMetric()
    other.signature = lambda: "fake|v2"
    add_metric_scores(_table(), [other], SPEC, cache_dir=tmp_path)
    assert other.calls == 5           # another signature is another cache
    assert len(list(tmp_path.glob("fake-*.parquet"))) == 2


def test_rouge_mean_over_references_equals_rouge_score(tmp_path):
    from rouge_score import rouge_scorer

    table = _table()
    table["out"] = ["the cat sat on the mat", "a dog ran", "birds fly south"]
    table["refs"] = [["the cat is on the mat", "cats sit"], ["a dog runs fast", "the cat"],
                     ["birds migrate south"]]
    out, sigs = add_metric_scores(table, ["rouge"], SPEC, multi_ref="mean", cache_dir=tmp_path)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
    for i, row in table.iterrows():
        want = np.mean([scorer.score(r, row["out"])["rouge2"].fmeasure for r in row["refs"]])
        assert out.loc[i, "rouge2"] == pytest.approx(want)
    assert "multi_ref=mean" in sigs["rouge2"]


def test_duplicate_input_system_pair_names_the_row(tidy):
    t = tidy(np.ones((2, 3)), np.ones((2, 3)))
    t.loc[4, "sys"] = "s0"
    with pytest.raises(DataError, match=r"<t>:5: field 'sys'.*more than once"):
        grid_from_table(t, id_col="doc", system_col="sys", value_cols=["m"], source="<t>")


def test_non_numeric_score_names_row_and_column(tidy):
    t = tidy(np.ones((2, 3)), np.ones((2, 3)))
    t["h"] = t["h"].astype(object)
    t.loc[2, "h"] = "good"
    with pytest.raises(DataError, match=r"x.csv:3: field 'h': expected a number, found 'good'"):
        grid_from_table(t, id_col="doc", system_col="sys", value_cols=["h"], source="x.csv")


def test_unknown_column_suggests_close_name(tidy):
    t = tidy(np.ones((2, 3)), np.ones((2, 3)))
    grid = grid_from_table(t, id_col="doc", system_col="sys", value_cols=["m", "h"])
    with pytest.raises(DataError, match="did you mean 'm'"):
        grid.column("mm")
    with pytest.raises(DataError, match="field 'nope': column not found"):
        grid_from_table(t, id_col="doc", system_col="sys", value_cols=["nope"])


def test_missing_scores_become_empty_cells(tidy):
    x = np.arange(6.0).reshape(2, 3)
    t = tidy(x, x)
    t.loc[1, "h"] = None
    grid = grid_from_table(t, id_col="doc", system_col="sys", value_cols=["h"])
    assert np.isnan(grid.column("h")[0, 1]) and np.isfinite(grid.column("h")).sum() == 5


def test_read_table_csv_with_json_references(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"doc": ["d1", "d2"], "sys": ["A", "A"], "out": ["x", "y"],
                  "refs": [json.dumps(["r1", "r2"]), "plain ref"], "h": [1, 2]}).to_csv(
        path, index=False)
    table = read_table(path, SPEC)
    assert table["refs"].tolist() == [["r1", "r2"], ["plain ref"]]
    pd.DataFrame({"doc": ["d1"], "sys": ["A"], "out": ["x"], "refs": ["[1, 2]"],
                  "h": [1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"t.csv:2: field 'refs'"):
        read_table(path, SPEC)
    with pytest.raises(DataError, match="field 'h2': column not found"):
        read_table(path, TableSpec("doc", "sys", "out", "refs", None, ("h2",)))


def test_lab_rating_of_unknown_sample_names_file_and_line(tmp_path, lab_dir):
    import shutil

    for name in ("rating_samples.jsonl", "ratings.jsonl"):
        shutil.copy(lab_dir / name, tmp_path / name)
    lines = (tmp_path / "ratings.jsonl").read_text().splitlines()
    bad = json.loads(lines[6])
    bad["sample_id"] = "no-such-sample"
    lines[6] = json.dumps(bad)
    (tmp_path / "ratings.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"ratings.jsonl:7: field 'sample_id'.*no-such-sample"):
        lab_table(tmp_path)
