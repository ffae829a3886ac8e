"""MoverScore (Zhao et al., 2019): earth mover's distance between contextual embeddings.

Written here because the PyPI ``moverscore`` package is abandoned (last release 2020) and loads
its model when imported. The computation follows the authors' code (``moverscore.py``, v1):

1. Encode each text with a BERT-style encoder; L2-normalise every token's vector in each of the
   last ``layers`` hidden states (5 in the paper's code) and concatenate their element-wise
   min, mean and max (power means, Rücklé et al. 2018): a (T, 3*D) matrix.
2. Keep word tokens: drop [CLS]/[SEP], punctuation, ``stop_words`` and, with
   ``remove_subwords``, WordPiece continuations ("##...").
3. n-grams (``n_gram``=1 unigrams, 2 bigrams: the paper's MoverScore-1/-2): every window of n
   consecutive kept tokens becomes one point, the idf-weighted mean of its vectors, with mass
   the sum of its idf weights; masses are normalised to 1 on each side.
4. Cost: Euclidean distance between L2-normalised points; score = 1 - EMD, with the exact EMD
   of the ``pot`` library (``ot.emd2``; the authors used ``pyemd``, the same linear program).

idf (``idf=True``, the paper's setting) is ``log((N+1)/(df+1))`` over the distinct reference
texts of the call for reference tokens and over the distinct predictions for prediction tokens
(the authors pass the two corpora to ``get_idf_dict`` separately); ``idf=False`` weighs every
kept token 1.

Differences from the paper's setup (documented, not hidden):
- the encoder: MiniLM-L6 by default (offline) instead of BERT-base fine-tuned on MNLI (v1) or
  DistilBERT (v2); any encoder path/id with ``model=``. MiniLM has 6 layers, so the last 5
  hidden states are layers 2-6;
- idf counts distinct texts (a reference repeated for 16 systems counts once), so the score
  does not depend on how a caller repeats references;
- texts longer than the encoder's limit are truncated to it (the authors truncate at 510
  word pieces too);
- a prediction or reference with no word token left (empty, only punctuation) scores 0;
- a text whose tokens all have idf 0 (they occur in every text of its corpus, e.g. a call with
  one distinct reference) is weighed uniformly; the authors' code would divide by zero.
idf, like bert_score's, depends on the texts of the call: score a corpus in one call (as
``correlate`` does), or pass ``idf=False`` for scores that do not depend on the batch.
Several references: the score against each, aggregated by ``multi_ref`` (mean or max).
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from math import log

import numpy as np

from ...errors import ConfigError, ModelError
from .base import Batch, Metric, Scores, yes_no

PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class _Text:
    tokens: tuple[str, ...]  # word-piece tokens, [CLS]/[SEP] included
    ids: tuple[int, ...]
    emb: np.ndarray  # (T, 3*D) float64 power-mean embeddings


def ngram_points(emb: np.ndarray, weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``n`` consecutive rows -> (points, masses) as the authors' ``load_ngram``:
    a point is the weight-normalised mean of its rows, its mass the sum of their weights. Fewer
    than ``n`` rows make one window of all of them."""
    k = len(emb)
    n = min(n, k)
    points, masses = [], []
    for s in range(k - n + 1):
        w = weights[s:s + n]
        total = w.sum()
        scale = w / total if total > 0 else np.zeros_like(w)  # the authors' _safe_divide
        points.append((scale[:, None] * emb[s:s + n]).sum(0))
        masses.append(total)
    return np.asarray(points), np.asarray(masses, dtype=np.float64)


def mover_distance(ref_points: np.ndarray, ref_mass: np.ndarray, hyp_points: np.ndarray,
                   hyp_mass: np.ndarray) -> float:
    """Exact EMD between two weighted point sets (points L2-normalised here, Euclidean cost)."""
    import ot

    def unit(x):
        return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)

    a = ref_mass / ref_mass.sum() if ref_mass.sum() > 0 else ref_mass
    b = hyp_mass / hyp_mass.sum() if hyp_mass.sum() > 0 else hyp_mass
    if a.sum() == 0 or b.sum() == 0:
        return float("nan")
    cost = ot.dist(unit(ref_points), unit(hyp_points), metric="euclidean")
    return float(ot.emd2(a, b, cost))


class MoverScoreMetric(Metric):
    name = "moverscore"
    score_names = ("moverscore",)
    higher_is_better = {"moverscore": True}
    needs_references = True

    def __init__(self, *, model: str | None = None, n_gram: int = 1, layers: int = 5,
                 idf: bool = True, remove_subwords: bool = True,
                 stop_words: tuple[str, ...] | list[str] = (), multi_ref: str = "mean",
                 batch_size: int = 32, device: str | None = "auto", max_length: int = 512):
        from ...models import minilm_path

        if n_gram not in (1, 2, 3):
            raise ConfigError(f"moverscore: n_gram must be 1, 2 or 3, found {n_gram!r}")
        if not isinstance(layers, int) or layers < 1:
            raise ConfigError(f"moverscore: layers must be a positive integer, found {layers!r}")
        if multi_ref not in ("mean", "max"):
            raise ConfigError(f"moverscore: multi_ref must be 'mean' or 'max', found "
                              f"{multi_ref!r}")
        self.model = str(model or minilm_path())
        self.n_gram, self.layers, self.idf = n_gram, layers, bool(idf)
        self.remove_subwords, self.stop_words = bool(remove_subwords), tuple(stop_words)
        self.multi_ref, self.batch_size, self.max_length = multi_ref, batch_size, max_length
        self.device_name = device
        self._tok = self._enc = self._device = None
        self._cache: dict[str, _Text] = {}

    def signature(self) -> str:
        from importlib.metadata import version

        from ..model_metrics import path_fingerprint

        stop = f"{len(self.stop_words)}words" if self.stop_words else "none"
        return "|".join([
            "moverscore", f"model={self.model}", f"model_hash={path_fingerprint(self.model)}",
            f"n_gram={self.n_gram}", f"layers=last{self.layers}:min+mean+max",
            f"idf={yes_no(self.idf)}", f"subwords={'drop' if self.remove_subwords else 'keep'}",
            f"stop_words={stop}", "cost=euclidean", f"multi_ref={self.multi_ref}",
            f"pot={version('pot')}", f"transformers={version('transformers')}"])

    # --------------------------------------------------------------------------- encoding

    def _load(self):
        if self._enc is None:
            from transformers import AutoModel, AutoTokenizer

            from ...models import pick_device

            try:
                self._tok = AutoTokenizer.from_pretrained(self.model)
                self._enc = AutoModel.from_pretrained(self.model)
            except (OSError, ValueError) as exc:
                raise ModelError(f"moverscore: cannot load encoder {self.model!r}: {exc}") from exc
            n_hidden = self._enc.config.num_hidden_layers + 1
            if self.layers > n_hidden:
                raise ConfigError(f"moverscore: layers={self.layers} but {self.model!r} has "
                                  f"{n_hidden} hidden states")
            self._device = pick_device(self.device_name)
            self._enc.to(self._device).eval()
        return self._tok, self._enc

    def _embed(self, texts: list[str]) -> None:
        import torch

        tok, enc = self._load()
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        limit = min(self.max_length, getattr(tok, "model_max_length", self.max_length))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            x = tok(chunk, padding=True, truncation=True, max_length=limit,
                    return_tensors="pt").to(self._device)
            with torch.inference_mode():
                hidden = enc(**x, output_hidden_states=True).hidden_states[-self.layers:]
            h = torch.stack(hidden).double()  # (layers, B, T, D)
            h = h / h.norm(dim=-1, keepdim=True)
            power = torch.cat([h.min(0).values, h.mean(0), h.max(0).values], -1)  # (B, T, 3D)
            for i, text in enumerate(chunk):
                n = int(x["attention_mask"][i].sum())
                ids = x["input_ids"][i, :n].tolist()
                self._cache[text] = _Text(tuple(tok.convert_ids_to_tokens(ids)), tuple(ids),
                                          power[i, :n].cpu().numpy())

    def _kept(self, t: _Text) -> list[int]:
        tok = self._tok
        special = {tok.cls_token, tok.sep_token, tok.pad_token}
        stop = set(self.stop_words)
        return [k for k, w in enumerate(t.tokens)
                if w not in special and w not in PUNCTUATION and w not in stop
                and not (self.remove_subwords and w.startswith("##"))]

    def _idf(self, texts: list[str]):
        """token id -> weight: log((N+1)/(df+1)) over the distinct ``texts`` (module doc)."""
        if not self.idf:
            return lambda _id: 1.0
        distinct = list(dict.fromkeys(texts))
        df: dict[int, int] = {}
        for text in distinct:
            for i in set(self._cache[text].ids):
                df[i] = df.get(i, 0) + 1
        n = len(distinct)
        return lambda i: log((n + 1) / (df.get(i, 0) + 1))

    def _points(self, t: _Text, idf) -> tuple[np.ndarray, np.ndarray]:
        kept = self._kept(t)
        if not kept:
            return np.zeros((0, t.emb.shape[1])), np.zeros(0)
        weights = np.array([idf(t.ids[k]) for k in kept], dtype=np.float64)
        if weights.sum() == 0:
            # every token is in every text of the corpus (e.g. one distinct reference): idf
            # says nothing, so weigh tokens equally rather than score the pair 0
            weights = np.ones_like(weights)
        return ngram_points(t.emb[kept], weights, self.n_gram)

    # ---------------------------------------------------------------------------- scoring

    def _score(self, batch: Batch) -> Scores:
        refs_flat = [r for rs in batch.references for r in rs]
        self._embed(list(batch.predictions) + refs_flat)
        idf_hyp, idf_ref = self._idf(batch.predictions), self._idf(refs_flat)
        points = {}
        out = np.empty(len(batch.predictions))
        for i, (pred, refs) in enumerate(zip(batch.predictions, batch.references)):
            if ("h", pred) not in points:
                points[("h", pred)] = self._points(self._cache[pred], idf_hyp)
            hp, hm = points[("h", pred)]
            per_ref = []
            for r in refs:
                if ("r", r) not in points:
                    points[("r", r)] = self._points(self._cache[r], idf_ref)
                rp, rm = points[("r", r)]
                if len(hm) == 0 or len(rm) == 0 or hm.sum() == 0 or rm.sum() == 0:
                    per_ref.append(0.0)  # nothing to move: no word tokens (module doc)
                else:
                    per_ref.append(1.0 - mover_distance(rp, rm, hp, hm))
            out[i] = np.mean(per_ref) if self.multi_ref == "mean" else np.max(per_ref)
        return {"moverscore": out}
