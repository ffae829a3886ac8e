"""The Metric contract: keyword-only arguments, validation, NaN handling, signatures."""
from __future__ import annotations

import numpy as np
import pytest

from rlhf_eval.errors import ConfigError, DataError
from rlhf_eval.evaluation.metrics import Metric, get_metric, score_many

CHEAP = ["rouge", "bleu", "chrf", "length", "distinct", "repetition"]


@pytest.mark.parametrize("name", CHEAP)
def test_keyword_only(name):
    m = get_metric(name)
    with pytest.raises(TypeError):
        m.sentence_scores(["a b"], [["a b"]])
    with pytest.raises(TypeError):
        m.corpus_score(["a b"], [["a b"]])


@pytest.mark.parametrize("name", CHEAP)
def test_shape_dtype_and_declared_names(name):
    m = get_metric(name)
    out = m.sentence_scores(predictions=["a b c", "", "d e f g"],
                            references=[["a b"], ["x"], ["d e"]])
    assert set(out) == set(m.score_names) == set(m.higher_is_better)
    for v in out.values():
        assert v.dtype == np.float64 and v.shape == (3,)
    assert set(m.corpus_score(predictions=["a b"], references=[["a b"]])) == set(m.score_names)


def test_length_mismatch_names_the_field():
    m = get_metric("rouge")
    with pytest.raises(DataError, match="references.*expected 2 reference lists"):
        m.sentence_scores(predictions=["a", "b"], references=[["a"]])
    with pytest.raises(DataError, match="prompts"):
        m.sentence_scores(predictions=["a", "b"], references=[["a"], ["b"]], prompts=["p"])


def test_reference_strings_instead_of_lists_are_rejected():
    with pytest.raises(DataError, match=r"<data>:2: field 'references'.*\[\[r\] for r in refs\]"):
        get_metric("bleu").sentence_scores(predictions=["a", "b"], references=[["a"], "b"])


def test_bad_prediction_type_names_the_sample():
    with pytest.raises(DataError, match=r":3: field 'predictions'.*int"):
        get_metric("length").sentence_scores(predictions=["a", "b", 3])


def test_reference_metrics_need_references():
    with pytest.raises(DataError, match="needs references"):
        get_metric("rouge").sentence_scores(predictions=["a"])


@pytest.mark.parametrize("name", ["rouge", "bleu", "chrf"])
def test_missing_is_nan_and_empty_prediction_is_scored(name):
    m = get_metric(name)
    out = m.sentence_scores(predictions=["a b", None, "", "a b"],
                            references=[["a b"], ["a b"], ["a b"], []])
    first = next(iter(out.values()))
    assert np.isnan(first[1]) and np.isnan(first[3])  # missing prediction / no reference
    assert first[2] == 0.0  # empty prediction: a real, bad output
    assert first[0] > 0


def test_all_missing_corpus_is_nan():
    out = get_metric("rouge").corpus_score(predictions=[None], references=[["a"]])
    assert all(np.isnan(v) for v in out.values())


class FixedRefs(Metric):
    name = "fixed"
    score_names = ("fixed",)
    higher_is_better = {"fixed": True}
    supports_variable_references = False

    def signature(self):
        return "fixed"

    def _score(self, batch):
        return {"fixed": np.array([len(r) for r in batch.references], float)}


def test_variable_reference_counts_only_where_supported():
    refs = [["a"], ["a", "b"]]
    with pytest.raises(DataError, match="same number of references"):
        FixedRefs().sentence_scores(predictions=["x", "y"], references=refs)
    out = get_metric("rouge").sentence_scores(predictions=["x", "y"], references=refs)
    assert not np.isnan(out["rouge1"]).any()


@pytest.mark.parametrize("name,a,b", [
    ("rouge", dict(), dict(use_stemmer=False)),
    ("rouge", dict(), dict(multi_ref="mean")),
    ("rouge", dict(), dict(lowercase=False)),
    ("rouge", dict(), dict(split="punkt")),
    ("rouge", dict(), dict(rouge_types=("rouge1",))),
    ("bleu", dict(), dict(smooth_method="floor")),
    ("chrf", dict(), dict(beta=3)),
    ("distinct", dict(), dict(n=(3,))),
    ("repetition", dict(), dict(n=(3,))),
])
def test_signature_changes_with_settings(name, a, b):
    sa, sb = get_metric(name, **a).signature(), get_metric(name, **b).signature()
    assert sa.startswith(name + "|") and sa != sb
    assert get_metric(name, **a).signature() == sa  # and is stable


def test_rouge_signature_records_library_and_settings():
    sig = get_metric("rouge", use_stemmer=True, multi_ref="max").signature()
    for part in ("rouge-score=0.1.2", "stem=yes", "lower=yes", "split=newline", "multi_ref=max"):
        assert part in sig


def test_module_score_many_merges_metrics_and_matches_single_calls():
    preds = {"c1": ["a b c", "d e"], "c2": ["a b", None]}
    refs = [["a b c d"], ["d e f"]]
    metrics = [get_metric("rouge", rouge_types=("rouge1",)), get_metric("length")]
    out = score_many(metrics, predictions=preds, references=refs)
    assert set(out) == {"c1", "c2"} and set(out["c1"]) == {"rouge1", "length", "length_chars"}
    np.testing.assert_array_equal(
        out["c2"]["rouge1"],
        metrics[0].sentence_scores(predictions=preds["c2"], references=refs)["rouge1"])
    with pytest.raises(ConfigError, match="both"):
        score_many([get_metric("length"), get_metric("length")], predictions=preds,
                   references=refs)
    with pytest.raises(DataError, match="mapping"):
        score_many(metrics, predictions=[["a"]], references=[["a"]])
