"""BLEU (Papineni et al., 2002) and chrF (Popovic, 2015) through sacrebleu (Post, 2018).

Sentence scores equal ``sacrebleu``'s ``sentence_score`` (BLEU with ``effective_order=True``,
sacrebleu's advice for single sentences); corpus scores equal ``corpus_score`` over the present
samples (a corpus statistic, not a mean of sentence scores). Several references per sample are
native to both metrics (clipped counts against all references); a count that varies between
samples is passed to sacrebleu as ``None`` padding, which it supports.

Speed: one pass of sacrebleu's own statistics extraction serves both the sentence and the
corpus scores, and ``score_many`` extracts the reference n-grams once for all K prediction lists
(sacrebleu's reference cache, the same one ``BLEU(references=...)`` fills).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import ConfigError, DataError
from .base import Batch, Metric, Scores


def _streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-sample reference lists -> sacrebleu's reference streams (None-padded)."""
    k = max(len(r) for r in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(k)]


class _SacreMetric(Metric):
    """Shared plumbing; subclasses set ``name``, ``score_names`` and ``_make(corpus: bool)``."""

    needs_references = True

    def __init__(self, **options):
        self.options = dict(options)
        try:
            self._sentence_metric = self._make(corpus=False)
            self._corpus_metric = self._make(corpus=True)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{self.name}: invalid sacrebleu options {self.options}: "
                              f"{exc}") from None
        self.higher_is_better = {k: True for k in self.score_names}

    def _make(self, *, corpus: bool):
        raise NotImplementedError

    def signature(self) -> str:
        # sacrebleu's own signature, minus `nrefs` (it depends on the data, not the settings)
        sig = self._corpus_metric.__class__._SIGNATURE_TYPE(
            {**copy.copy(self._corpus_metric.__dict__), "num_refs": 1})
        sig.info.pop("nrefs", None)
        return f"{self.name}|sacrebleu|{sig.format()}|{self._extra_signature()}"

    def _extra_signature(self) -> str:
        """Settings that sacrebleu's signature leaves out."""
        raise NotImplementedError

    def _stats(self, predictions: list[str], references: list[list[str]]):
        # Private sacrebleu API (stable through 2.x); tests check it equals the public calls.
        ref_cache = self._corpus_metric._cache_references(_streams(references))
        return self._stats_with_cache(predictions, ref_cache)

    def _stats_with_cache(self, predictions, ref_cache):
        m = self._corpus_metric
        return [m._compute_segment_statistics(m._preprocess_segment(h), r)
                for h, r in zip(predictions, ref_cache)]

    def _sentence_from_stats(self, stats) -> np.ndarray:
        m = self._sentence_metric
        return np.array([m._compute_score_from_stats(s).score for s in stats], dtype=np.float64)

    def _score(self, batch: Batch) -> Scores:
        stats = self._stats(batch.predictions, batch.references)
        return {self.name: self._sentence_from_stats(stats)}

    def corpus_score(self, *, predictions, references=None, prompts=None) -> dict[str, float]:
        batch = self.validate(predictions=predictions, references=references, prompts=prompts)
        if not len(batch.index):
            return {self.name: float("nan")}
        stats = self._stats(batch.predictions, batch.references)
        return {self.name: float(self._corpus_metric._aggregate_and_compute(stats).score)}

    def score_many(self, *, predictions: Mapping[str, Sequence[str | None]],
                   references=None, prompts=None) -> dict[str, Scores]:
        if not isinstance(predictions, Mapping):
            raise DataError("expected a mapping {key: list of predictions}, found "
                            f"{type(predictions).__name__}", field="predictions")
        if references is None:
            return super().score_many(predictions=predictions, references=references,
                                      prompts=prompts)
        cache = None  # reference n-grams of every sample, extracted on first use
        out = {}
        for key, preds in predictions.items():
            batch = self.validate(predictions=preds, references=references, prompts=prompts)
            scores = {self.name: np.full(batch.n, np.nan)}
            if len(batch.index):
                if cache is None:
                    refs_all = [list(r) for r in references]
                    has = [i for i, r in enumerate(refs_all) if r]
                    cache = dict(zip(has, self._corpus_metric._cache_references(
                        _streams([refs_all[i] for i in has]))))
                stats = self._stats_with_cache(batch.predictions,
                                               [cache[int(i)] for i in batch.index])
                scores[self.name][batch.index] = self._sentence_from_stats(stats)
            out[key] = scores
        return out


class BleuMetric(_SacreMetric):
    """BLEU. Options go to ``sacrebleu.metrics.BLEU`` (tokenize, lowercase, smooth_method...)."""

    name = "bleu"
    score_names = ("bleu",)

    def __init__(self, *, tokenize: str | None = None, lowercase: bool = False,
                 smooth_method: str = "exp", smooth_value: float | None = None,
                 max_ngram_order: int = 4):
        super().__init__(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method,
                         smooth_value=smooth_value, max_ngram_order=max_ngram_order)

    def _make(self, *, corpus: bool):
        from sacrebleu.metrics import BLEU

        return BLEU(effective_order=not corpus, **self.options)

    def _extra_signature(self) -> str:
        # sentence scores use effective order (sacrebleu's sentence_bleu default)
        return f"sent-eff:yes|order:{self.options['max_ngram_order']}"


class ChrfMetric(_SacreMetric):
    """chrF (``word_order=2`` gives chrF++). Options go to ``sacrebleu.metrics.CHRF``."""

    name = "chrf"
    score_names = ("chrf",)

    def __init__(self, *, char_order: int = 6, word_order: int = 0, beta: int = 2,
                 lowercase: bool = False, whitespace: bool = False):
        super().__init__(char_order=char_order, word_order=word_order, beta=beta,
                         lowercase=lowercase, whitespace=whitespace)

    def _make(self, *, corpus: bool):
        from sacrebleu.metrics import CHRF

        # chrF's sentence and corpus objects are the same (eps_smoothing off, as sacrebleu)
        return CHRF(**self.options)

    def _extra_signature(self) -> str:
        return f"beta:{self.options['beta']}"
