"""ROUGE equals rouge-score's RougeScorer (fast engine, multi-reference, options, edge cases)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from rouge_score import rouge_scorer

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.metrics import get_metric
from rlhf_eval.evaluation.metrics.rouge_engine import (CasedTokenizer, lcs_indices, lcs_rows,
                                                       match_masks)

TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def library_pairs(preds, refs, *, use_stemmer=True, tokenizer=None):
    """rouge-score pair by pair: per prediction, the list of per-reference Score dicts."""
    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=use_stemmer, tokenizer=tokenizer)
    return [[scorer.score(r, pred) for r in rs] for pred, rs in zip(preds, refs)]


def aggregate(pairs, multi_ref="max", component=2):
    """max = RougeScorer.score_multi (reference with the best F, first on ties); mean."""
    out = {t: [] for t in TYPES}
    for per in pairs:
        for t in TYPES:
            if multi_ref == "max":
                best = per[int(np.argmax([s[t].fmeasure for s in per]))][t]
                out[t].append(best[component])
            else:
                out[t].append(np.mean([s[t][component] for s in per]))
    return {t: np.array(v) for t, v in out.items()}


def library_scores(preds, refs, *, use_stemmer=True, multi_ref="max", tokenizer=None,
                   component=2):
    return aggregate(library_pairs(preds, refs, use_stemmer=use_stemmer, tokenizer=tokenizer),
                     multi_ref, component)


@pytest.fixture(scope="module")
def summeval_pairs(summeval_small):
    return library_pairs(*summeval_small)


def test_score_multi_is_what_max_means(summeval_small):
    preds, refs = summeval_small[0][:5], summeval_small[1][:5]
    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=True)
    agg = library_scores(preds, refs)
    for i, (p, rs) in enumerate(zip(preds, refs)):
        multi = scorer.score_multi(rs, p)
        assert [multi[t].fmeasure for t in TYPES] == [agg[t][i] for t in TYPES]


def assert_close(ours, lib, tol=1e-9):
    for t in TYPES:
        np.testing.assert_allclose(ours[t], lib[t], rtol=0, atol=tol, err_msg=t)


@pytest.mark.parametrize("multi_ref", ["max", "mean"])
def test_summeval_equals_rouge_score(summeval_small, summeval_pairs, multi_ref):
    preds, refs = summeval_small
    m = get_metric("rouge", use_stemmer=True, multi_ref=multi_ref)
    assert_close(m.sentence_scores(predictions=preds, references=refs),
                 aggregate(summeval_pairs, multi_ref))


def test_precision_recall_components(summeval_small, summeval_pairs):
    preds, refs = summeval_small
    ours = get_metric("rouge", include_pr=True).sentence_scores(predictions=preds,
                                                                references=refs)
    for comp, suffix in ((0, "precision"), (1, "recall")):
        lib = aggregate(summeval_pairs, "max", comp)
        for t in TYPES:
            np.testing.assert_allclose(ours[f"{t}_{suffix}"], lib[t], atol=1e-9)


EDGE_PREDS = ["", "...!?", "the the the the cat", "Café naïve façade — 東京 2024", "a\nb c\n\nd a",
              "x", "The cats were running; the cat RAN.", "  \n  ", "b a\na b\nb b a"]
EDGE_REFS = [["a reference"], ["..."], ["the cat the cat the"], ["cafe naive facade 2024"],
             ["a b\nc d a", "d\na"], [""], ["the cat runs", "cats ran", "running"], ["x"],
             ["a b b\nb a", "a\nb\na"]]


@pytest.mark.parametrize("stem", [True, False])
def test_edge_cases_equal_rouge_score(stem):
    m = get_metric("rouge", use_stemmer=stem)
    ours = m.sentence_scores(predictions=EDGE_PREDS, references=EDGE_REFS)
    assert_close(ours, library_scores(EDGE_PREDS, EDGE_REFS, use_stemmer=stem))
    assert ours["rouge1"][0] == 0.0  # empty prediction: scored 0, not missing
    assert not np.isnan(ours["rougeLsum"]).any()


def test_multi_sentence_lsum_random_equals_rouge_score():
    # exercises the union-LCS backtrack path (several sentences on both sides, many ties)
    rng = random.Random(7)

    def text():
        return "\n".join(" ".join(rng.choice("abcde") for _ in range(rng.randint(0, 7)))
                         for _ in range(rng.randint(1, 4)))

    preds = [text() for _ in range(150)]
    refs = [[text() for _ in range(rng.randint(1, 3))] for _ in range(150)]
    m = get_metric("rouge", use_stemmer=False)
    assert_close(m.sentence_scores(predictions=preds, references=refs),
                 library_scores(preds, refs, use_stemmer=False))


def test_bit_parallel_lcs_table_and_backtrack_equal_rouge_score():
    rng = random.Random(3)
    for _ in range(400):
        a = [rng.choice("abc") for _ in range(rng.randint(0, 9))]
        b = [rng.choice("abc") for _ in range(rng.randint(0, 9))]
        assert lcs_indices(a, b, match_masks(b)) == rouge_scorer.lcs_ind(a, b)
        if a and b:
            table = rouge_scorer._lcs_table(a, b)
            rows = lcs_rows(a, match_masks(b), len(b))
            ours = [[j - (rows[i] & ((1 << j) - 1)).bit_count() for j in range(len(b) + 1)]
                    for i in range(len(a) + 1)]
            assert ours == table


def test_lowercase_false_equals_rouge_score_with_cased_tokenizer():
    preds = ["The Cat sat", "the cat SAT on the Mat", "APPLES and Apples"]
    refs = [["the cat sat"], ["The Cat sat on the mat"], ["apples and APPLES"]]
    cased = get_metric("rouge", lowercase=False, use_stemmer=True)
    ours = cased.sentence_scores(predictions=preds, references=refs)
    assert_close(ours, library_scores(preds, refs, tokenizer=CasedTokenizer(True)))
    lower = get_metric("rouge").sentence_scores(predictions=preds, references=refs)
    assert ours["rouge1"][0] < lower["rouge1"][0] == 1.0  # case now matters


def test_punkt_split_equals_newline_split_of_the_same_sentences():
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    punkt = PunktSentenceTokenizer()
    preds = ["The cat sat. Then it ran away! Did it come back?", "One sentence only"]
    refs = [["It ran away. The cat sat."], ["Only one. Sentence."]]
    ours = get_metric("rouge", split="punkt").sentence_scores(predictions=preds, references=refs)
    presplit = lambda t: "\n".join(punkt.tokenize(t))  # noqa: E731
    lib = library_scores([presplit(p) for p in preds], [[presplit(r) for r in rs] for rs in refs])
    np.testing.assert_allclose(ours["rougeLsum"], lib["rougeLsum"], atol=1e-9)
    newline = get_metric("rouge").sentence_scores(predictions=preds, references=refs)
    assert ours["rougeLsum"][0] != newline["rougeLsum"][0]  # the split really changed Lsum


def test_parallel_equals_serial(summeval_small, monkeypatch):
    from rlhf_eval.evaluation.metrics import rouge as rouge_module

    monkeypatch.setattr(rouge_module, "_PARALLEL_MIN_PAIRS", 1)
    preds, refs = summeval_small
    serial = get_metric("rouge").sentence_scores(predictions=preds, references=refs)
    parallel = get_metric("rouge", n_jobs=2).sentence_scores(predictions=preds, references=refs)
    for t in TYPES:
        np.testing.assert_array_equal(parallel[t], serial[t])


def test_corpus_is_mean_of_sentence_f(summeval_small):
    preds, refs = summeval_small
    m = get_metric("rouge")
    sent = m.sentence_scores(predictions=preds, references=refs)
    corpus = m.corpus_score(predictions=preds, references=refs)
    for t in TYPES:
        assert corpus[t] == pytest.approx(sent[t].mean(), abs=1e-12)


@pytest.mark.parametrize("options", [dict(rouge_types=("rouge0",)), dict(split="spacy"),
                                     dict(multi_ref="median"), dict(n_jobs=0)])
def test_bad_options(options):
    with pytest.raises(ConfigError):
        get_metric("rouge", **options)


def test_nltk_split_without_data_fails_clearly():
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        pytest.skip("punkt_tab is installed here")
    except LookupError:
        pass
    with pytest.raises(ConfigError, match="punkt_tab"):
        get_metric("rouge", split="nltk")
