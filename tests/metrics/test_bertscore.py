"""BERTScore equals bert_score.score to 1e-6 in fp32; caches, options, bf16 tolerance."""
from __future__ import annotations

import numpy as np
import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.metrics import get_metric

NAMES = ("bertscore_p", "bertscore_r", "bertscore_f")


@pytest.mark.parametrize("idf", [False, True])
def test_equals_bert_score(summeval_tiny, bert_score_reference, idf):
    preds, refs = summeval_tiny
    ours = get_metric("bertscore", idf=idf, device="cpu").sentence_scores(
        predictions=preds, references=refs)
    for name, lib in zip(NAMES, bert_score_reference[idf]):
        np.testing.assert_allclose(ours[name], lib, rtol=0, atol=1e-6, err_msg=name)


def test_score_many_embeds_each_text_once(summeval_tiny, bert_score_reference):
    preds, refs = summeval_tiny
    m = get_metric("bertscore", device="cpu", batch_size=3)
    enc = m.encoder
    unique = set(preds) | {r for rs in refs for r in rs}
    new = len(unique - set(enc.cache))
    rows = []
    hook = enc.model.register_forward_hook(lambda mod, args, out: rows.append(len(args[0])))
    try:
        lists = {"ckpt-1": preds, "ckpt-2": preds[::-1], "ckpt-3": [None] + preds[1:]}
        many = m.score_many(predictions=lists, references=refs)
    finally:
        hook.remove()
    assert sum(rows) == new  # the model saw each not-yet-cached text once, none twice
    assert unique <= set(enc.cache)
    for name, lib in zip(NAMES, bert_score_reference[False]):
        np.testing.assert_allclose(many["ckpt-1"][name], lib, atol=1e-6)
    single = m.sentence_scores(predictions=preds[::-1], references=refs)  # all cached now
    for name in NAMES:
        np.testing.assert_allclose(many["ckpt-2"][name], single[name], atol=1e-6)
    assert np.isnan(many["ckpt-3"]["bertscore_f"][0])
    np.testing.assert_allclose(many["ckpt-3"]["bertscore_f"][1:], many["ckpt-1"]["bertscore_f"][1:])


def test_embedding_cache_is_bounded_and_keeps_the_current_texts(summeval_tiny, monkeypatch):
    preds, refs = summeval_tiny
    enc = get_metric("bertscore", device="cpu").encoder
    enc.embed(preds[:4], batch_size=8)
    monkeypatch.setattr(enc, "max_bytes", 1)  # over budget after any call
    enc.embed(preds[4:6], batch_size=8)
    assert list(enc.cache) == preds[4:6]  # older texts evicted, this call's texts kept
    assert enc.nbytes == sum(e.emb.numel() * 4 for e in enc.cache.values())


def test_mean_over_references_is_the_mean_of_single_reference_scores(summeval_tiny):
    # single-reference scores are bert_score's (test_equals_bert_score covers the matching)
    preds, refs = summeval_tiny
    m = get_metric("bertscore", device="cpu")
    ours = get_metric("bertscore", multi_ref="mean", device="cpu").sentence_scores(
        predictions=preds, references=refs)
    per_ref = [m.sentence_scores(predictions=preds, references=[[r[j]] for r in refs])
               for j in range(len(refs[0]))]
    best = m.sentence_scores(predictions=preds, references=refs)
    for name in NAMES:
        stacked = np.stack([p[name] for p in per_ref])
        np.testing.assert_allclose(ours[name], stacked.mean(axis=0), atol=1e-7)
        np.testing.assert_allclose(best[name], stacked.max(axis=0), atol=1e-7)


def test_custom_baseline_rescaling_equals_bert_score(summeval_tiny, minilm, tmp_path):
    import bert_score

    preds, refs = summeval_tiny[0][:5], summeval_tiny[1][:5]
    path = tmp_path / "baseline.tsv"
    rows = ["LAYER,P,R,F"] + [f"{i},{0.3 + i / 100},{0.31 + i / 100},{0.305 + i / 100}"
                              for i in range(7)]
    path.write_text("\n".join(rows) + "\n")
    ours = get_metric("bertscore", rescale_with_baseline=True, baseline_path=str(path),
                      device="cpu").sentence_scores(predictions=preds, references=refs)
    lib = bert_score.score(preds, refs, model_type=minilm, num_layers=6, lang="en",
                           rescale_with_baseline=True, baseline_path=str(path), device="cpu")
    for name, t in zip(NAMES, lib):
        np.testing.assert_allclose(ours[name], t.numpy(), atol=1e-6)


def test_rescaling_without_a_baseline_file_fails_clearly():
    with pytest.raises(ConfigError, match="baseline"):
        get_metric("bertscore", rescale_with_baseline=True)


def test_empty_prediction_is_scored_zero_not_crashed(summeval_tiny):
    preds, refs = summeval_tiny
    out = get_metric("bertscore", device="cpu").sentence_scores(
        predictions=["", "   ", preds[2]], references=refs[:3])
    for name in NAMES:
        assert out[name][0] == 0.0 and out[name][1] == 0.0 and out[name][2] > 0.5


def test_bf16_within_documented_tolerance(summeval_tiny, bert_score_reference):
    preds, refs = summeval_tiny
    out = get_metric("bertscore", dtype="bf16", device="cpu").sentence_scores(
        predictions=preds, references=refs)
    for name, lib in zip(NAMES, bert_score_reference[False]):
        np.testing.assert_allclose(out[name], lib, atol=1e-2)


def test_signature_tracks_settings(minilm):
    base = get_metric("bertscore", device="cpu")
    sig = base.signature()
    assert sig.startswith("bertscore|bert-score=") and "L=6" in sig and "idf=no" in sig
    assert "model=" in sig and "transformers=" in sig
    others = [get_metric("bertscore", idf=True, device="cpu"),
              get_metric("bertscore", num_layers=4, device="cpu"),
              get_metric("bertscore", multi_ref="mean", device="cpu"),
              get_metric("bertscore", dtype="bf16", device="cpu")]
    sigs = {sig} | {m.signature() for m in others}
    assert len(sigs) == 5


def test_unknown_model_or_layer_count():
    with pytest.raises(ConfigError, match="num_layers"):
        get_metric("bertscore", model_type="/no/such/model")
    with pytest.raises(ConfigError):
        get_metric("bertscore", dtype="fp8")


def test_signature_records_the_thread_count(minilm):
    """Issue 19: 1 and 2 threads gave BERTScores 1.2e-7 apart (enough to flip a tie), so a
    score computed under another thread count carries another signature."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = get_metric("bertscore", device="cpu").signature()
        torch.set_num_threads(2)
        two = get_metric("bertscore", device="cpu").signature()
    finally:
        torch.set_num_threads(before)
    assert "threads=1" in one and "threads=2" in two and one != two
