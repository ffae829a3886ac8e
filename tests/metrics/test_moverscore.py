"""MoverScore: the EMD against hand computations and an independent linear program, the
n-gram pooling by hand, and the whole metric against a re-computation that follows the
authors' code (joint support, full distance matrix) with scipy's LP solver. MiniLM: ~5 s."""
from __future__ import annotations

import math
import string

import numpy as np
import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.metrics import get_metric
from rlhf_eval.evaluation.metrics.moverscore import mover_distance, ngram_points


def lp_emd(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    """Transport LP solved by scipy (HiGHS): min <F, C> s.t. row sums a, column sums b."""
    from scipy.optimize import linprog

    n, m = cost.shape
    rows = np.zeros((n, n * m))
    cols = np.zeros((m, n * m))
    for i in range(n):
        rows[i, i * m:(i + 1) * m] = 1
    for j in range(m):
        cols[j, j::m] = 1
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]),
                  bounds=(0, None), method="highs")
    assert res.success
    return float(res.fun)


def test_emd_by_hand():
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    # half the mass sits on e2 and must travel |e2 - e1| = sqrt(2)
    d = mover_distance(np.stack([e1, e2]), np.array([1.0, 1.0]), e1[None], np.array([2.0]))
    assert d == pytest.approx(0.5 * math.sqrt(2), abs=1e-5)
    # identical point sets: nothing moves; masses are normalised first
    assert mover_distance(np.stack([e1, e2]), np.array([1, 3.0]), np.stack([e1, e2]),
                          np.array([2, 6.0])) == pytest.approx(0.0, abs=1e-5)
    # opposite unit vectors are 2 apart
    assert mover_distance(e1[None], np.array([1.0]), -e1[None], np.array([5.0])) == \
        pytest.approx(2.0, abs=1e-5)


def test_emd_equals_an_independent_linear_program():
    rng = np.random.default_rng(0)
    for n, m in ((3, 2), (5, 7), (4, 4)):
        ref, hyp = rng.normal(size=(n, 6)), rng.normal(size=(m, 6))
        a, b = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m)
        unit = lambda x: x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)  # noqa: E731
        cost = np.linalg.norm(unit(ref)[:, None] - unit(hyp)[None], axis=-1)
        assert mover_distance(ref, a, hyp, b) == pytest.approx(
            lp_emd(a / a.sum(), b / b.sum(), cost), abs=1e-7)


def test_ngram_points_by_hand():
    emb = np.array([[1.0, 0], [0, 1.0], [1.0, 1.0]])
    w = np.array([1.0, 2.0, 3.0])
    pts, mass = ngram_points(emb, w, 2)
    np.testing.assert_allclose(pts, [[1 / 3, 2 / 3], [3 / 5, 1.0]])
    np.testing.assert_allclose(mass, [3.0, 5.0])
    pts, mass = ngram_points(emb, w, 1)
    np.testing.assert_allclose(pts, emb) and np.testing.assert_allclose(mass, w)
    pts, mass = ngram_points(emb[:1], w[:1], 2)  # fewer rows than n: one window of all
    np.testing.assert_allclose(mass, [1.0])


def authors_moverscore(model_path, hyp, ref, hyps_corpus, refs_corpus, n_gram):
    """The authors' computation, re-done from a plain transformers forward: last 5 hidden
    states normalised, min/mean/max concatenated, word tokens kept, idf from each corpus,
    windows of n, EMD on the joint support (ref points then hyp points) as pyemd gets it."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()

    def idf(corpus):
        docs = list(dict.fromkeys(corpus))
        df = {}
        for d in docs:
            for i in set(tok(d)["input_ids"]):
                df[i] = df.get(i, 0) + 1
        return lambda i: math.log((len(docs) + 1) / (df.get(i, 0) + 1))

    def points(text, idf_fn):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states[-5:]
        h = torch.stack([x[0].double() for x in hs])
        h = h / h.norm(dim=-1, keepdim=True)
        emb = torch.cat([h.min(0).values, h.mean(0), h.max(0).values], -1).numpy()
        ids = enc["input_ids"][0].tolist()
        words = tok.convert_ids_to_tokens(ids)
        keep = [k for k, w in enumerate(words) if w not in ("[CLS]", "[SEP]")
                and w not in set(string.punctuation) and not w.startswith("##")]
        w = np.array([idf_fn(ids[k]) for k in keep])
        n = min(n_gram, len(keep))
        safe = lambda x: x / x.sum() if x.sum() > 0 else 0 * x  # noqa: E731  (_safe_divide)
        pts = [(safe(w[s:s + n])[:, None] * emb[keep][s:s + n]).sum(0)
               for s in range(len(keep) - n + 1)]
        return np.array(pts), np.array([w[s:s + n].sum() for s in range(len(keep) - n + 1)])

    rp, rm = points(ref, idf(refs_corpus))
    hp, hm = points(hyp, idf(hyps_corpus))
    raw = np.concatenate([rp, hp])
    raw = raw / (np.linalg.norm(raw, axis=1, keepdims=True) + 1e-6)
    dist = np.linalg.norm(raw[:, None] - raw[None], axis=-1)
    c1 = np.concatenate([rm / rm.sum(), np.zeros(len(hm))])
    c2 = np.concatenate([np.zeros(len(rm)), hm / hm.sum()])
    return 1 - lp_emd(c1, c2, dist)


@pytest.mark.parametrize("n_gram", [1, 2])
def test_metric_equals_the_authors_computation(minilm, n_gram):
    hyps = ["The council approved a new library near the park.",
            "A football team won the cup on Sunday!"]
    refs = [["The city council voted to build a library next to the central park."],
            ["Fans celebrated as the home team lifted the trophy after extra time."]]
    m = get_metric("moverscore", n_gram=n_gram, device="cpu")
    got = m.sentence_scores(predictions=hyps, references=refs)["moverscore"]
    want = [authors_moverscore(minilm, h, r[0], hyps, [r[0] for r in refs], n_gram)
            for h, r in zip(hyps, refs)]
    np.testing.assert_allclose(got, want, atol=1e-6)
    ref = refs[0]
    far = m.sentence_scores(predictions=[hyps[1]], references=[ref])["moverscore"]
    assert got[0] > far[0]  # the paraphrase is closer than the unrelated sentence
    same = m.sentence_scores(predictions=[ref[0]], references=[ref])["moverscore"]
    assert same[0] == pytest.approx(1.0, abs=1e-5)


def test_multi_ref_signature_and_bad_options(minilm):
    # idf=False: with idf, hypothesis and reference tokens are weighed by different corpora,
    # so even an identical pair moves some mass
    m = get_metric("moverscore", multi_ref="max", idf=False, device="cpu")
    out = m.sentence_scores(predictions=["a cat sat on the mat", "!!!"],
                            references=[["a cat sat on the mat", "dogs bark"], ["a cat"]])
    assert out["moverscore"][0] == pytest.approx(1.0, abs=1e-5)
    assert out["moverscore"][1] == 0.0  # no word token left: nothing to compare
    sig = m.signature()
    for part in ("moverscore", "n_gram=1", "layers=last5:min+mean+max", "idf=no",
                 "multi_ref=max", "pot="):
        assert part in sig
    assert m.higher_is_better == {"moverscore": True}
    with pytest.raises(ConfigError, match="n_gram"):
        get_metric("moverscore", n_gram=5)
    with pytest.raises(ConfigError, match="multi_ref"):
        get_metric("moverscore", multi_ref="median")
