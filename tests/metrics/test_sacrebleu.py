"""BLEU and chrF equal sacrebleu's public API (sentence, corpus, multi and variable references)."""
from __future__ import annotations

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.metrics import get_metric


def streams(refs):
    k = max(map(len, refs))
    return [[r[j] if j < len(r) else None for r in refs] for j in range(k)]


CASES = [("bleu", BLEU, {}, dict(effective_order=True)),
         ("chrf", CHRF, {}, {}),
         ("chrf", CHRF, dict(word_order=2), dict(word_order=2)),
         ("bleu", BLEU, dict(lowercase=True, tokenize="char"),
          dict(lowercase=True, tokenize="char", effective_order=True))]


@pytest.mark.parametrize("name,cls,options,lib_options", CASES)
def test_equals_sacrebleu(summeval_small, name, cls, options, lib_options):
    preds, refs = summeval_small
    preds = preds + [""]
    refs = [r[: 1 + i % 5] for i, r in enumerate(refs)] + [["x y"]]  # variable counts
    m = get_metric(name, **options)
    ours = m.sentence_scores(predictions=preds, references=refs)[name]
    lib = np.array([cls(**lib_options).sentence_score(p, r).score for p, r in zip(preds, refs)])
    np.testing.assert_allclose(ours, lib, atol=1e-9)
    corpus_options = {k: v for k, v in lib_options.items() if k != "effective_order"}
    lib_corpus = cls(**corpus_options).corpus_score(preds, streams(refs)).score
    assert m.corpus_score(predictions=preds, references=refs)[name] == pytest.approx(
        lib_corpus, abs=1e-9)


def test_missing_samples_are_nan_and_left_out_of_the_corpus(summeval_small):
    preds, refs = summeval_small[0][:10], summeval_small[1][:10]
    m = get_metric("bleu")
    with_missing = m.sentence_scores(predictions=[None] + preds[1:],
                                     references=refs[:5] + [[]] + refs[6:])
    assert np.isnan(with_missing["bleu"][[0, 5]]).all()
    assert not np.isnan(np.delete(with_missing["bleu"], [0, 5])).any()
    kept = [i for i in range(10) if i not in (0, 5)]
    expected = BLEU().corpus_score([preds[i] for i in kept], streams([refs[i] for i in kept]))
    got = m.corpus_score(predictions=[None] + preds[1:], references=refs[:5] + [[]] + refs[6:])
    assert got["bleu"] == pytest.approx(expected.score, abs=1e-9)


@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_score_many_equals_separate_calls(summeval_small, name):
    preds, refs = summeval_small
    refs = [r[:3] for r in refs[:16]]
    lists = {"a": preds[:16], "b": preds[16:32], "c": [None] * 3 + preds[35:48]}
    m = get_metric(name)
    many = m.score_many(predictions=lists, references=refs)
    for key, p in lists.items():
        np.testing.assert_array_equal(
            many[key][name], m.sentence_scores(predictions=p, references=refs)[name])


def test_signature_comes_from_sacrebleu_and_tracks_settings():
    sig = get_metric("bleu").signature()
    assert sig.startswith("bleu|sacrebleu|") and "tok:13a" in sig and "version:" in sig
    assert "nrefs" not in sig  # data-dependent, not a setting
    assert get_metric("bleu", tokenize="char").signature() != sig
    assert "nw:2" in get_metric("chrf", word_order=2).signature()


def test_bad_sacrebleu_option():
    with pytest.raises(ConfigError, match="bleu"):
        get_metric("bleu", tokenize="no-such-tokenizer")
