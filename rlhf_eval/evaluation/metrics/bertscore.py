"""BERTScore (Zhang et al., 2020) equal to ``bert_score.score``, with cached embeddings.

``bert_score.score`` re-loads the model and re-embeds every reference on every call; evaluating K
checkpoints against the same references embeds those references K times. Here the model, the
tokenizer, each text's token ids and normalised embeddings, and the idf table are cached, so a
reference is embedded once for all checkpoints. Embedding batches are bucketed by token length
(less padding than bert_score's whitespace-word sort).

What is reused from bert_score: ``get_model`` (layer truncation), ``get_tokenizer``,
``sent_encode`` (tokenisation and truncation), ``get_idf_dict`` and the baseline files. What is
re-written (for the caches): batching and the greedy matching, with bert_score's semantics:

- [CLS]/[SEP] embeddings take part in the matching, with idf weight 0 (so they only matter as
  candidates for a max);
- an empty candidate or reference (only [CLS][SEP] left) scores P = R = F = 0, as bert_score
  does (with a warning there); bert_score 0.3.12 cannot encode an empty string with
  transformers 5, this module can;
- several references: P, R and F are each the max over the references (bert_score), or their
  mean with ``multi_ref="mean"``; baseline rescaling is applied after that aggregation.

One deliberate difference: bert_score zeroes padded similarity entries and takes the max over them,
so a token whose best real cosine is negative would score 0 there, depending on which other
sentences shared its batch; here the max is over real tokens only. Contextual embeddings have
positive cosines in practice (the tests compare with bert_score on real data to 1e-6).

``dtype="bf16"`` runs the encoder in bfloat16 and matches in fp32; on SummEval summaries its
P/R/F differ from fp32 by about 1e-3 at most (1.5e-3 measured by bench_scoring.py; the test allows
1e-2). It is faster only where the CPU has bf16 instructions (AVX512-BF16/AMX): issue 18
measured the encoder 1.9-2.6x faster there, not the 4x once noted here. On an AVX2-only CPU it
is emulated and slower: bench_scoring.py --docs 4 took 80.7 s with bf16 vs 15.1 s in fp32
(medians of 3, load 6-8). Use it for monitoring, not for numbers compared with fp32 ones.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataError, ModelError
from .base import Batch, Metric, Scores, yes_no

DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class _Encoded:
    ids: tuple[int, ...]
    emb: object  # torch.Tensor (L, D) float32, rows L2-normalised


class _Encoder:
    """Model + tokenizer + per-text embedding cache, shared by metrics with the same settings."""

    def __init__(self, model_type: str, num_layers: int, device, dtype: str,
                 use_fast_tokenizer: bool):
        import torch
        from bert_score.utils import get_model, get_tokenizer

        try:
            self.tokenizer = get_tokenizer(model_type, use_fast_tokenizer)
            self.model = get_model(model_type, num_layers)
        except (OSError, ValueError, AssertionError) as exc:
            raise ModelError(f"bertscore: cannot load {model_type!r} with num_layers="
                             f"{num_layers}: {exc}") from exc
        self.device = device
        self.dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        self.model.to(device=device, dtype=self.dtype)
        self.model.eval()
        # text -> embedding, least recently used first; bounded by max_bytes (see _evict)
        self.cache: dict[str, _Encoded] = {}
        self.nbytes = 0
        self.max_bytes = EMBED_CACHE_BYTES

    def encode_ids(self, text: str) -> list[int]:
        from bert_score.utils import sent_encode

        if text.strip() == "":
            # bert_score uses build_inputs_with_special_tokens([]), gone in transformers 5
            return self.tokenizer.encode("", add_special_tokens=True)
        return sent_encode(self.tokenizer, text)

    def embed(self, texts: Sequence[str], batch_size: int) -> None:
        """Embed the texts not cached yet, in batches of similar token length."""
        wanted = list(dict.fromkeys(texts))
        for t in wanted:  # mark as recently used: move to the end
            hit = self.cache.pop(t, None)
            if hit is not None:
                self.cache[t] = hit
        todo = [t for t in wanted if t not in self.cache]
        if todo:
            self._embed_new(todo, batch_size)
        self._evict(keep=len(wanted))

    def _evict(self, keep: int) -> None:
        """Drop least recently used embeddings while over budget, never the last ``keep``
        (the texts of the current call, which sit at the end)."""
        while self.nbytes > self.max_bytes and len(self.cache) > keep:
            text = next(iter(self.cache))
            self.nbytes -= _size(self.cache.pop(text))

    def _embed_new(self, todo: list[str], batch_size: int) -> None:
        import torch

        ids = {t: self.encode_ids(t) for t in todo}
        todo.sort(key=lambda t: len(ids[t]), reverse=True)
        pad = self.tokenizer.pad_token_id
        with torch.no_grad():
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                lens = [len(ids[t]) for t in chunk]
                x = torch.full((len(chunk), max(lens)), pad, dtype=torch.long)
                mask = torch.zeros_like(x)
                for i, t in enumerate(chunk):
                    x[i, :lens[i]] = torch.tensor(ids[t])
                    mask[i, :lens[i]] = 1
                out = self.model(x.to(self.device), attention_mask=mask.to(self.device))[0]
                out = out.float().cpu()  # (B, T, D)
                for i, t in enumerate(chunk):
                    emb = out[i, :lens[i]]
                    emb = emb / torch.norm(emb, dim=-1).unsqueeze(-1)
                    self.cache[t] = _Encoded(tuple(ids[t]), emb)
                    self.nbytes += _size(self.cache[t])


# Embeddings kept across calls, per loaded model. A MiniLM
# summary of ~80 tokens takes ~120 KB, so 1 GiB holds ~8,000 texts: the references of an
# evaluation set plus a few checkpoints' outputs; older outputs are evicted first.
EMBED_CACHE_BYTES = 1 << 30


def _size(e: _Encoded) -> int:
    return e.emb.numel() * e.emb.element_size()


_ENCODERS: dict[tuple, _Encoder] = {}


def _encoder(model_type, num_layers, device, dtype, use_fast_tokenizer) -> _Encoder:
    key = (model_type, num_layers, str(device), dtype, use_fast_tokenizer)
    if key not in _ENCODERS:
        _ENCODERS[key] = _Encoder(model_type, num_layers, device, dtype, use_fast_tokenizer)
    return _ENCODERS[key]


def clear_cache() -> None:
    """Drop every loaded model and cached embedding (frees memory)."""
    _ENCODERS.clear()


class BertScoreMetric(Metric):
    name = "bertscore"
    score_names = ("bertscore_p", "bertscore_r", "bertscore_f")
    higher_is_better = {k: True for k in score_names}
    needs_references = True

    def __init__(self, *, model_type: str | None = None, num_layers: int | None = None,
                 idf: bool = False, rescale_with_baseline: bool = False, lang: str = "en",
                 baseline_path: str | None = None, multi_ref: str = "max",
                 batch_size: int = 64, device: str | None = "auto", dtype: str = "fp32",
                 use_fast_tokenizer: bool = False, compute_baseline: bool = False):
        from ...models import minilm_path, pick_device

        if model_type is None:
            model_type = minilm_path()
            num_layers = 6 if num_layers is None else num_layers
        if num_layers is None:
            from bert_score.utils import model2layers

            if model_type not in model2layers:
                raise ConfigError(f"bertscore: no default num_layers for {model_type!r}; pass "
                                  "num_layers= (the layer whose embeddings are used)")
            num_layers = model2layers[model_type]
        if multi_ref not in ("max", "mean"):
            raise ConfigError(f"bertscore: multi_ref must be 'max' or 'mean', found {multi_ref!r}")
        if dtype not in DTYPES:
            raise ConfigError(f"bertscore: dtype must be one of {DTYPES}, found {dtype!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"bertscore: batch_size must be a positive integer, found "
                              f"{batch_size!r}")
        self.model_type, self.num_layers, self.idf = model_type, int(num_layers), bool(idf)
        self.rescale, self.lang, self.multi_ref = bool(rescale_with_baseline), lang, multi_ref
        self.batch_size, self.dtype, self.use_fast = batch_size, dtype, bool(use_fast_tokenizer)
        self.device = pick_device(device)
        self.baseline_path = baseline_path
        self.compute_baseline = bool(compute_baseline)  # see bertscore_baseline.py
        self._rescale_note = None  # set when the baseline is computed here
        self._baseline = self._load_baseline() if self.rescale else None
        self._idf_cache: dict[str, dict] = {}

    # --------------------------------------------------------------------------- settings

    def _load_baseline(self):
        import bert_score

        path = self.baseline_path or os.path.join(
            os.path.dirname(bert_score.__file__), "rescale_baseline", self.lang,
            f"{self.model_type}.tsv")
        if self.compute_baseline and not self.baseline_path and not Path(path).is_file():
            # no shipped baseline for this encoder: compute one offline (bertscore_baseline.py)
            from . import bertscore_baseline as bb

            scorer = plain_pair_scorer(self.model_type, self.num_layers, device=self.device)
            path, meta = bb.ensure_baseline(self.model_type, self.num_layers, scorer,
                                            n_pairs=bb.DEFAULT_PAIRS)
            self._rescale_note = (f"computed:{meta['corpus_sha1']}:{meta['n_pairs']}pairs:"
                                  f"seed{meta['seed']}")
        if not Path(path).is_file():
            raise ConfigError(
                f"bertscore: rescale_with_baseline needs a baseline file, and none exists at "
                f"{path} (bert-score ships baselines only for some hub models and languages; "
                "pass compute_baseline=True to compute one offline from the bundled corpus, "
                "or a baseline_path=, or turn rescaling off)")
        import pandas as pd

        table = pd.read_csv(path)
        if not 0 <= self.num_layers < len(table):
            raise ConfigError(f"bertscore: baseline file {path} has no row for layer "
                              f"{self.num_layers}")
        # the same row/columns bert_score reads: row num_layers, columns P, R, F
        row = table.iloc[self.num_layers].to_numpy()[1:].astype(np.float32)
        if np.isnan(row).any():
            raise ConfigError(f"bertscore: baseline file {path} has no values for layer "
                              f"{self.num_layers}")
        return row

    def signature(self) -> str:
        from importlib.metadata import version

        model = self.model_type
        if os.path.isdir(model):  # a local folder: name plus a hash of its config
            cfg = Path(model, "config.json")
            digest = hashlib.sha1(cfg.read_bytes()).hexdigest()[:8] if cfg.is_file() else "?"
            model = f"{Path(model).name}@{digest}"
        rescale = "no" if not self.rescale else ("custom" if self.baseline_path else "yes")
        if self._baseline is not None and (self._rescale_note or self.baseline_path):
            # the values themselves: a stored score says exactly how it was rescaled
            rescale = (f"{self._rescale_note or 'custom'}:b="
                       + "/".join(f"{v:.4f}" for v in self._baseline))
        return "|".join([
            "bertscore", f"bert-score={version('bert-score')}",
            f"transformers={version('transformers')}", f"model={model}",
            f"L={self.num_layers}", f"idf={yes_no(self.idf)}", f"rescale={rescale}",
            f"multi_ref={self.multi_ref}", f"dtype={self.dtype}",
            f"fast_tok={yes_no(self.use_fast)}", f"threads={_threads()}"])

    @property
    def encoder(self) -> _Encoder:
        return _encoder(self.model_type, self.num_layers, self.device, self.dtype,
                        self.use_fast)

    # ---------------------------------------------------------------------------- scoring

    def _idf_weights(self, references: list[list[str]]):
        """Token id -> weight, from the flattened references exactly as bert_score builds it."""
        from collections import defaultdict

        enc = self.encoder
        if not self.idf:
            weights = defaultdict(lambda: 1.0)
            weights[enc.tokenizer.sep_token_id] = 0
            weights[enc.tokenizer.cls_token_id] = 0
            return weights
        flat = [r for refs in references for r in refs]
        key = hashlib.sha1("\x00\x01".join(flat).encode("utf-8", "surrogatepass")).hexdigest()
        if key not in self._idf_cache:
            from bert_score.utils import get_idf_dict

            if len(self._idf_cache) > 16:
                self._idf_cache.clear()
            self._idf_cache[key] = get_idf_dict(flat, enc.tokenizer, nthreads=0)
        return self._idf_cache[key]

    def _score(self, batch: Batch) -> Scores:
        return self._score_with_idf(batch, self._idf_weights(batch.references))

    def _score_with_idf(self, batch: Batch, idf) -> Scores:
        return self._score_lists([batch.predictions], batch.references, idf)[0]

    def _score_lists(self, pred_lists: list[list[str]], references: list[list[str]],
                     idf) -> list[Scores]:
        """Scores of several prediction lists against the same ``references``.

        Predictions that share a reference set (across samples and lists) are matched in one
        batched product: (B, Lh, D) x (K, Lr, D) -> (B, K, Lr, Lh).
        """
        enc = self.encoder
        texts = [p for preds in pred_lists for p in preds] + [r for rs in references for r in rs]
        enc.embed(texts, self.batch_size)
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for li, preds in enumerate(pred_lists):
            for i, refs in enumerate(references):
                groups.setdefault(tuple(refs), []).append((li, i))
        outs = [np.empty((len(preds), 3), dtype=np.float64) for preds in pred_lists]
        for refs, members in groups.items():
            ref_stats = _pad_group([enc.cache[r] for r in refs], idf)
            for start in range(0, len(members), _MATCH_CHUNK):
                chunk = members[start:start + _MATCH_CHUNK]
                hyps = [enc.cache[pred_lists[li][i]] for li, i in chunk]
                per_ref = _greedy_match(_pad_group(hyps, idf), ref_stats)  # (B, K, 3)
                agg = (per_ref.max(dim=1).values if self.multi_ref == "max"
                       else per_ref.mean(dim=1)).numpy()  # (B, 3)
                for (li, i), row in zip(chunk, agg):
                    outs[li][i] = row
        result = []
        for out in outs:
            if self._baseline is not None:
                out = (out - self._baseline) / (1 - self._baseline)
            result.append({"bertscore_p": out[:, 0], "bertscore_r": out[:, 1],
                           "bertscore_f": out[:, 2]})
        return result

    def score_many(self, *, predictions: Mapping[str, Sequence[str | None]],
                   references=None, prompts=None) -> dict[str, Scores]:
        # Equal to K calls of sentence_scores (to float rounding); the idf table (from the
        # shared references, as bert_score builds it per call) and the embeddings are computed
        # once, and predictions of all K lists that share references are matched together.
        if not isinstance(predictions, Mapping):
            raise DataError("expected a mapping {key: list of predictions}, found "
                            f"{type(predictions).__name__}", field="predictions")
        batches = {key: self.validate(predictions=preds, references=references,
                                      prompts=prompts) for key, preds in predictions.items()}
        out = {key: {k: np.full(b.n, np.nan) for k in self.score_names}
               for key, b in batches.items()}
        # lists with the same present samples share one reference list (the common case)
        by_refs: dict[tuple, list[str]] = {}
        for key, b in batches.items():
            if len(b.index):
                by_refs.setdefault(tuple(b.index.tolist()), []).append(key)
        for index, keys in by_refs.items():
            refs = batches[keys[0]].references
            got = self._score_lists([batches[k].predictions for k in keys], refs,
                                    self._idf_weights(refs))
            for key, scores in zip(keys, got):
                for k in self.score_names:
                    out[key][k][batches[key].index] = scores[k]
        return out


def plain_pair_scorer(model_type: str, num_layers: int, *, device="auto", batch_size: int = 64):
    """``(hyps, refs) -> (N, 3)`` P, R, F of plain BERTScore (one reference each, no idf, no
    rescaling): what a rescale baseline averages (bertscore_baseline.py)."""
    metric = BertScoreMetric(model_type=model_type, num_layers=num_layers, idf=False,
                             rescale_with_baseline=False, device=device, batch_size=batch_size)

    def score(hyps: list[str], refs: list[str]) -> np.ndarray:
        s = metric.sentence_scores(predictions=hyps, references=[[r] for r in refs])
        return np.stack([s["bertscore_p"], s["bertscore_r"], s["bertscore_f"]], axis=1)

    return score


_MATCH_CHUNK = 64  # candidates matched per batched product (bounds memory: B*K*Lr*Lh floats)


def _weights(ids, idf):
    import torch

    return torch.tensor([float(idf[t]) for t in ids], dtype=torch.float32)


def _pad_group(encoded: list[_Encoded], idf):
    """Texts -> (N, L, D) embeddings, (N, L) valid mask, (N, L) normalised idf weights and an
    (N,) "empty" flag (only [CLS][SEP] left)."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    emb = pad_sequence([e.emb for e in encoded], batch_first=True)
    lens = torch.tensor([len(e.ids) for e in encoded])
    valid = torch.arange(emb.shape[1]).unsqueeze(0) < lens.unsqueeze(1)
    w = pad_sequence([_weights(e.ids, idf) for e in encoded], batch_first=True)
    w = w / w.sum(dim=1, keepdim=True)  # NaN for an all-zero row (empty text), as bert_score
    return emb, valid, w, lens == 2


def _greedy_match(hyp_stats, ref_stats):
    """Greedy cosine matching of B candidates against the same K references -> (B, K, 3)."""
    import torch

    hyp_emb, hyp_valid, hyp_w, hyp_empty = hyp_stats  # (B, Lh, D), (B, Lh), (B, Lh), (B,)
    ref_emb, ref_valid, ref_w, ref_empty = ref_stats  # (K, Lr, D), (K, Lr), (K, Lr), (K,)
    sim = torch.einsum("krd,bhd->bkrh", ref_emb, hyp_emb)  # (B, K, Lr, Lh)
    invalid = ~(ref_valid[None, :, :, None] & hyp_valid[:, None, None, :])
    sim = sim.masked_fill(invalid, float("-inf"))  # max over real tokens only (module doc)
    word_precision = sim.max(dim=2).values  # (B, K, Lh): best reference token per candidate token
    word_recall = sim.max(dim=3).values  # (B, K, Lr): best candidate token per reference token
    word_precision = word_precision.masked_fill(~hyp_valid[:, None, :], 0.0)
    word_recall = word_recall.masked_fill(~ref_valid[None, :, :], 0.0)
    P = (word_precision * hyp_w[:, None, :]).sum(dim=2)  # (B, K)
    R = (word_recall * ref_w[None, :, :]).sum(dim=2)
    F = 2 * P * R / (P + R)
    empty = hyp_empty[:, None] | ref_empty[None, :]  # (B, K)
    P = P.masked_fill(empty, 0.0)
    R = R.masked_fill(empty, 0.0)
    F = F.masked_fill(torch.isnan(F) | empty, 0.0)
    return torch.stack((P, R, F), dim=-1)


def _threads() -> int:
    """torch's intra-op thread count: CPU reductions are split by thread, so 1 and 2 threads
    give BERTScores that differ in the 7th decimal (enough to flip a win-rate tie); a score
    computed under another count is therefore another signature."""
    import torch

    return torch.get_num_threads()
