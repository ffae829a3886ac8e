"""length, distinct-n and seq-rep-n against hand computations."""
from __future__ import annotations

import numpy as np
import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.metrics import get_metric

PREDS = ["a b a b", "a c", "", None, "x x x x x"]


def test_length_words_and_chars():
    out = get_metric("length").sentence_scores(predictions=PREDS)
    np.testing.assert_array_equal(out["length"][[0, 1, 2, 4]], [4, 2, 0, 5])
    np.testing.assert_array_equal(out["length_chars"][[0, 1, 2, 4]], [7, 3, 0, 9])
    assert np.isnan(out["length"][3])
    assert get_metric("length").corpus_score(predictions=PREDS)["length"] == pytest.approx(11 / 4)


def test_length_with_a_tokenizer_object():
    class CharTok:
        name_or_path = "chars"

        def tokenize(self, text):
            return list(text.replace(" ", ""))

    m = get_metric("length", tokenizer=CharTok())
    assert m.sentence_scores(predictions=["ab c"])["length"][0] == 3
    assert "unit=chars" in m.signature()


def test_distinct_sentence_and_corpus():
    m = get_metric("distinct", n=(1, 2))
    out = m.sentence_scores(predictions=PREDS)
    # "a b a b": unigrams {a,b}/4; bigrams {ab, ba}/3. "a c": 2/2, 1/1. "x"*5: 1/5, 1/4
    np.testing.assert_allclose(out["distinct_1"][[0, 1, 4]], [2 / 4, 1.0, 1 / 5])
    np.testing.assert_allclose(out["distinct_2"][[0, 1, 4]], [2 / 3, 1.0, 1 / 4])
    assert np.isnan(out["distinct_1"][2]) and np.isnan(out["distinct_1"][3])  # no n-grams
    corpus = m.corpus_score(predictions=PREDS)
    # corpus statistic: unigrams {a,b,c,x} over 11 tokens; bigrams {ab,ba,ac,xx} over 8
    assert corpus["distinct_1"] == pytest.approx(4 / 11)
    assert corpus["distinct_2"] == pytest.approx(4 / 8)


def test_repetition_is_one_minus_sentence_distinct():
    out = get_metric("repetition", n=(2,)).sentence_scores(predictions=PREDS)
    np.testing.assert_allclose(out["rep_2"][[0, 1, 4]], [1 / 3, 0.0, 3 / 4])
    assert get_metric("repetition").higher_is_better == {"rep_2": False, "rep_4": False}


def test_bad_orders():
    with pytest.raises(ConfigError):
        get_metric("distinct", n=(0,))
