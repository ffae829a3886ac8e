"""On the lab, where the truth is known: a coverage metric tracks gold coverage, not invention."""
from __future__ import annotations

import pytest

from rlhf_eval.evaluation.correlation import CorrelationConfig, correlate_grid, grid_from_table
from rlhf_eval.evaluation.correlation_inputs import (TableSpec, add_metric_scores,
                                                     lab_choice_ceilings, lab_table)

pytest.importorskip("rlhf_eval.lab")


@pytest.fixture(scope="module")
def lab_scores(lab_dir):
    from rlhf_eval.evaluation.metrics import get_metric

    table = lab_table(lab_dir)
    rouge = get_metric("rouge", rouge_types=("rouge1",), include_pr=True, multi_ref="mean")
    table, _ = add_metric_scores(table, [rouge], TableSpec(human_cols=()))
    return table


def test_lab_table_has_ratings_and_gold(lab_scores):
    for col in ("coverage", "faithfulness", "overall", "gold_coverage", "gold_invented"):
        assert lab_scores[col].notna().all()
    assert lab_scores.groupby("doc_id").size().eq(4).all()


def test_recall_tracks_coverage_not_invented_facts(lab_scores):
    # The lab's references state exactly the key facts, so ROUGE-1 recall measures coverage;
    # an invented fact adds words the reference lacks, which recall does not see.
    grid = grid_from_table(lab_scores, id_col="doc_id", system_col="system",
                           value_cols=["rouge1_recall", "gold_coverage", "gold_invented",
                                       "coverage"])
    res = correlate_grid(grid, ["rouge1_recall"], ["gold_coverage", "gold_invented", "coverage"],
                         CorrelationConfig(levels=("sample",), methods=("kendall",),
                                           resample="inputs", n_resamples=300, seed=0))
    by = res.set_index("aspect")
    assert by.loc["gold_coverage", "ci_low"] > 0.4
    assert by.loc["gold_invented", "ci_low"] < 0 < by.loc["gold_invented", "ci_high"]
    assert abs(by.loc["gold_invented", "value"]) < 0.2
    # the annotators' noisy coverage ratings correlate too, but less than the gold aspect
    assert 0 < by.loc["coverage", "value"] < by.loc["gold_coverage", "value"]


def test_annotator_ceiling_is_a_percent_agreement(lab_dir):
    ceilings = lab_choice_ceilings(lab_dir)
    assert set(ceilings) >= {"coverage", "faithfulness", "overall"}
    for value, n_items in ceilings.values():
        assert 0 < value < 1 and n_items == 40 * 6


def test_cli_on_the_lab_reports_the_annotator_ceiling(lab_dir, tmp_path, capsys):
    import json

    from rlhf_eval.cli import main

    code = main(["correlate", "--lab", str(lab_dir), "--metrics", "chrf", "--levels", "sample",
                 "--methods", "kendall", "--n-resamples", "50", "--pairwise",
                 "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(inter-annotator)" in out and "nan" not in out.lower()
    data = json.loads((tmp_path / "correlations.json").read_text())
    ceiling = [r for r in data["pairwise_agreement"] if r["metric"] == "(inter-annotator)"]
    assert {r["aspect"] for r in ceiling} == {"brevity", "coverage", "faithfulness", "overall"}
    assert all(r["ci_low"] is None and 0 < r["agreement"] < 1 for r in ceiling)
