"""BERTScore rescale baselines computed offline: the baseline equals bert_score's own mean over
the same random pairs, the file is in bert_score's layout and rescales as bert_score does, and
the metric computes, caches and signs it. MiniLM, 30-60 pairs: ~10 s."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlhf_eval.evaluation.metrics import bertscore_baseline as bb
from rlhf_eval.evaluation.metrics import get_metric

NAMES = ("bertscore_p", "bertscore_r", "bertscore_f")


def test_random_pairs_are_seeded_and_never_pair_a_sentence_with_itself():
    sentences = [f"sentence number {i} here." for i in range(5)]
    a, b = bb.random_pairs(sentences, 500, seed=1)
    assert all(x != y for x, y in zip(a, b))
    assert (a, b) == bb.random_pairs(sentences, 500, seed=1)
    assert len(set(zip(a, b))) == 20  # every ordered pair of different sentences occurs


def test_bundled_corpus_is_distinct_plain_sentences():
    s = bb.bundled_sentences()
    assert len(s) > 1000 and len(set(s)) == len(s)
    assert all(5 <= len(x.split()) <= 40 for x in s)
    assert not any("Human:" in x or "Assistant:" in x for x in s)


def test_baseline_equals_bert_score_mean_and_rescales_like_bert_score(minilm, tmp_path,
                                                                      summeval_tiny):
    import bert_score

    from rlhf_eval.evaluation.metrics.bertscore import plain_pair_scorer

    scorer = plain_pair_scorer(minilm, 6, device="cpu")
    path, meta = bb.ensure_baseline(minilm, 6, scorer, n_pairs=30, seed=0, folder=tmp_path)
    table = pd.read_csv(path)
    assert list(table.columns) == ["LAYER", "P", "R", "F"] and len(table) == 7
    assert table.iloc[:6][["P", "R", "F"]].isna().all().all()  # only layer 6 computed
    hyps, refs = bb.random_pairs(bb.bundled_sentences(), 30, 0)
    P, R, F = bert_score.score(hyps, refs, model_type=minilm, num_layers=6, device="cpu")
    # 3e-4 apart, not 1e-7: on unrelated sentences some tokens' best cosine is negative, and
    # bert_score's max also sees its zeroed padding (so counts 0 there) while ours takes the
    # max over real tokens (bertscore.py module doc). The baseline is made with our metric,
    # so that unrelated pairs of *our* scores rescale to about 0.
    np.testing.assert_allclose(table.iloc[6][["P", "R", "F"]].to_numpy(dtype=float),
                               [P.mean(), R.mean(), F.mean()], atol=1e-3)
    assert meta["n_pairs"] == 30 and set(meta["stderr"]) == {"6"}
    # idempotent: a second call reads the file
    assert bb.ensure_baseline(minilm, 6, scorer, n_pairs=30, seed=0, folder=tmp_path)[0] == path

    preds, refs2 = summeval_tiny[0][:2], summeval_tiny[1][:2]
    ours = get_metric("bertscore", rescale_with_baseline=True, baseline_path=str(path),
                      device="cpu").sentence_scores(predictions=preds, references=refs2)
    lib = bert_score.score(preds, refs2, model_type=minilm, num_layers=6, lang="en",
                           rescale_with_baseline=True, baseline_path=str(path), device="cpu")
    raw = bert_score.score(preds, refs2, model_type=minilm, num_layers=6, device="cpu")
    b = table.iloc[6][["P", "R", "F"]].to_numpy(dtype=float)
    by_formula = bb.rescale(np.stack([t.numpy() for t in raw], 1), b)
    for k, (name, t) in enumerate(zip(NAMES, lib)):
        np.testing.assert_allclose(ours[name], t.numpy(), atol=1e-6)
        np.testing.assert_allclose(by_formula[:, k], t.numpy(), atol=1e-6)


def test_metric_computes_caches_and_signs_the_baseline(minilm, tmp_path, monkeypatch,
                                                       summeval_tiny):
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(tmp_path))
    monkeypatch.setattr(bb, "DEFAULT_PAIRS", 30)
    m = get_metric("bertscore", rescale_with_baseline=True, compute_baseline=True,
                   device="cpu")
    files = list((tmp_path / "bertscore-baselines").glob("*.tsv"))
    assert len(files) == 1 and "30pairs" in files[0].name
    row = pd.read_csv(files[0]).iloc[6][["P", "R", "F"]].to_numpy(dtype=float)
    sig = m.signature()
    assert "rescale=computed:" in sig and ":30pairs:seed0:b=" in sig
    assert "/".join(f"{v:.4f}" for v in row) in sig
    preds, refs = summeval_tiny[0][:3], summeval_tiny[1][:3]
    plain = get_metric("bertscore", device="cpu").sentence_scores(predictions=preds,
                                                                  references=refs)
    got = m.sentence_scores(predictions=preds, references=refs)
    for k, name in enumerate(NAMES):
        np.testing.assert_allclose(got[name], (plain[name] - row[k]) / (1 - row[k]), atol=1e-6)
