"""Judge meta-evaluation against independent loops and scikit-learn; SummEval as pairs; the
CLI on bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from rlhf_eval.evaluation.judges.meta import (choice_ceiling, judge_agreement, meta_table,
                                              summeval_pairs, verdicts_from_scores)
from rlhf_eval.schema import PairwiseChoice


def test_judge_agreement_equals_loops_and_sklearn():
    rng = np.random.default_rng(0)
    n = 120
    human = rng.choice(["a", "b", "tie"], n, p=[0.45, 0.45, 0.1])
    judge = np.where(rng.random(n) < 0.7, human, rng.choice(["a", "b", "tie"], n)).astype(object)
    judge[::13] = None
    groups = np.repeat(np.arange(30), 4)
    res = judge_agreement(human, judge, groups=groups, n_resamples=300, seed=1)
    decided = [(h, j) for h, j in zip(human, judge) if h != "tie"]
    agree = sum(h == j for h, j in decided)
    ties = sum(j == "tie" for _, j in decided)
    missing = sum(j is None for _, j in decided)
    disagree = len(decided) - agree - ties - missing
    assert (res["agree"], res["judge_ties"], res["judge_missing"], res["disagree"]) == (
        agree, ties, missing, disagree)
    assert res["agreement"] == pytest.approx(agree / len(decided))
    assert res["agreement_excl_judge_ties"] == pytest.approx(agree / (agree + disagree))
    assert res["excl_ci_low"] <= res["agreement_excl_judge_ties"] <= res["excl_ci_high"]
    assert res["ci_low"] <= res["agreement"] <= res["ci_high"]
    keep = [j is not None for j in judge]
    assert res["kappa"] == pytest.approx(cohen_kappa_score(human[keep], judge[keep].astype(str)))
    assert res["human_ties"] == int((human == "tie").sum())


def test_meta_table_ranks_and_ceiling():
    human = ["a", "b", "a", "b", "a", "tie"]
    judges = {"perfect": ["a", "b", "a", "b", "a", "a"], "always_a": ["a"] * 6,
              "scores": verdicts_from_scores([3, 1, 2, 2, 5, 1], [1, 2, 1, 2, 4, 1])}
    tab = meta_table(human, judges, n_resamples=50, ceiling=(0.65, 40))
    assert list(tab["judge"]) == ["perfect", "scores", "always_a", "(inter-annotator)"]
    assert tab.iloc[1]["judge_ties"] == 1 and tab.iloc[1]["agreement"] == pytest.approx(0.8)
    assert tab.iloc[3]["n_pairs"] == 40


def test_choice_ceiling_on_items_labelled_twice():
    ch = [PairwiseChoice("x", "y", "a", "u1"), PairwiseChoice("x", "y", "a", "u2"),
          PairwiseChoice("z", "w", "a", "u1"), PairwiseChoice("w", "z", "a", "u2"),
          PairwiseChoice("p", "q", "b", "u1")]
    value, items = choice_ceiling(ch)
    assert items == 2 and value == pytest.approx(0.5)   # (y,x) flipped: disagree on z/w
    assert choice_ceiling(ch[-1:]) is None


def test_summeval_pairs_expert_mean_decides():
    from rlhf_eval.evaluation.correlation_inputs import SUMMEVAL_ASPECTS, summeval_table

    table = summeval_table()
    pairs = summeval_pairs(table, max_inputs=2)
    # 16 systems: 120 pairs per document, less those whose two summaries are the same text
    assert len(pairs) + pairs.attrs["identical_skipped"] == 2 * 120
    assert pairs.attrs["identical_skipped"] == 1
    overall = table[list(SUMMEVAL_ASPECTS)].mean(axis=1)
    for r in pairs.sample(40, random_state=0).itertuples():
        a, b = round(overall[r.row_a], 9), round(overall[r.row_b], 9)
        assert r.human == ("a" if a > b else "b" if b > a else "tie")
    some = summeval_pairs(table, max_inputs=3, pairs_per_input=5, seed=1)
    assert len(some) == 15 and some.equals(summeval_pairs(table, max_inputs=3,
                                                           pairs_per_input=5, seed=1))


def test_judge_cli_summeval_metrics_only(tmp_path, capsys):
    from rlhf_eval.cli import main

    out = tmp_path / "m"
    code = main(["judge", "--summeval", "--max-inputs", "3", "--pairs-per-input", "4",
                 "--metrics", "rouge", "--n-resamples", "100", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    meta = json.loads((out / "judge_meta.json").read_text())
    names = [row["judge"] for row in meta["table"]]
    assert set(names) == {"rouge1", "rouge2", "rougeL", "longer"}
    assert "| rank | judge |" in (out / "judge_meta.md").read_text()


def test_judge_cli_bad_pairs_file(tmp_path):
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "q", "a": "x", "b": "y"}\n{"prompt": "q", "a": "x"}\n')
    r = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "judge", "--pairs", str(bad),
                        "--llm", "smollm2", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "p.jsonl:2" in r.stderr and "field 'b'" in r.stderr


def test_summeval_pairs_leave_out_identical_summaries():
    """Two systems with the same text are no pair (SummEval has such copies, rated apart);
    found by `judge --summeval` over 25 documents, which stopped with 'both responses are
    identical'."""
    import pandas as pd

    table = pd.DataFrame({"doc_id": ["d"] * 3, "source": ["s"] * 3, "system": ["A", "B", "C"],
                          "output": ["same text", "same text ", "other"],
                          "coherence": [1, 2, 3], "consistency": [1, 2, 3],
                          "fluency": [1, 2, 3], "relevance": [1, 2, 3]})
    pairs = summeval_pairs(table)
    assert len(pairs) == 2 and pairs.attrs["identical_skipped"] == 1
    assert all(a.strip() != b.strip() for a, b in zip(pairs["output_a"], pairs["output_b"]))
