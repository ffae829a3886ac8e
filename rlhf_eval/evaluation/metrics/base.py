"""The metric object every scorer implements, and the input checks they all share.

A metric (in the spirit of sacrebleu and bert_score) has a stable ``name``, the names of the
scores it returns, their direction, and a ``signature()`` string that records library versions,
model and settings, so a stored number can always be traced back to what produced it.

Arguments are keyword-only (``predictions=``, ``references=``), so prediction/reference order
cannot be swapped silently. Missing values are NaN, never a silent 0:

- a prediction that is ``None`` (e.g. generation failed) is missing for every metric;
- a sample whose reference list is empty is missing for reference-based metrics.

An *empty string* prediction is not missing: it is a real (degenerate) output and is scored the
way the underlying library scores it (ROUGE/BLEU/chrF/BERTScore give 0), so a policy that
collapses to empty outputs is penalised instead of dropping out of the mean.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import DataError

Scores = dict[str, np.ndarray]


@dataclass(frozen=True)
class Batch:
    """Validated inputs, restricted to the samples that can be scored (``index``)."""

    predictions: list[str]
    references: list[list[str]] | None
    prompts: list[str] | None
    index: np.ndarray  # (n_present,) positions of these samples in the caller's lists
    n: int  # number of samples the caller passed


def _check_str_list(values, field: str) -> list:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise DataError(f"expected a list of strings, found {type(values).__name__}", field=field)
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str):
            raise DataError(f"expected a string (or None for a missing value), found "
                            f"{type(v).__name__}", line=i + 1, field=field)
    return list(values)


def _check_references(references, n: int) -> list[list[str]]:
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise DataError("expected a list with one list of reference strings per sample, found "
                        f"{type(references).__name__}", field="references")
    if len(references) != n:
        raise DataError(f"expected {n} reference lists (one per prediction), found "
                        f"{len(references)}", field="references")
    out = []
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise DataError(
                f"expected a list of reference strings for this sample, found "
                f"{type(refs).__name__} (wrap single references: [[r] for r in refs])",
                line=i + 1, field="references")
        for r in refs:
            if not isinstance(r, str):
                raise DataError(f"expected reference strings, found {type(r).__name__}",
                                line=i + 1, field="references")
        out.append(list(refs))
    return out


class Metric(ABC):
    """Base class: subclasses set the class attributes and implement ``_score``.

    ``line`` numbers in the :class:`DataError` raised on bad input are 1-based sample indices.
    """

    name: str = ""
    score_names: tuple[str, ...] = ()
    higher_is_better: dict[str, bool | None] = {}  # None: a diagnostic with no better direction
    needs_references: bool = True
    needs_prompts: bool = False
    # False: every sample must have the same number of references (checked in validate)
    supports_variable_references: bool = True

    # ----------------------------------------------------------------------------- public API

    @abstractmethod
    def signature(self) -> str:
        """``name|lib=version|setting=value|...``: changes whenever a setting changes."""

    def sentence_scores(self, *, predictions: Sequence[str | None],
                        references: Sequence[Sequence[str]] | None = None,
                        prompts: Sequence[str] | None = None) -> Scores:
        """Per-sample scores: ``{score_name: float64 array of len(predictions)}``, NaN = missing."""
        batch = self.validate(predictions=predictions, references=references, prompts=prompts)
        out = {k: np.full(batch.n, np.nan) for k in self.score_names}
        if len(batch.index):
            scored = self._score(batch)
            for k in self.score_names:
                out[k][batch.index] = np.asarray(scored[k], dtype=np.float64)
        return out

    def corpus_score(self, *, predictions: Sequence[str | None],
                     references: Sequence[Sequence[str]] | None = None,
                     prompts: Sequence[str] | None = None) -> dict[str, float]:
        """Corpus-level scores; by default the mean of the present sentence scores."""
        scores = self.sentence_scores(predictions=predictions, references=references,
                                      prompts=prompts)
        return {k: _nanmean(v) for k, v in scores.items()}

    def score_many(self, *, predictions: Mapping[str, Sequence[str | None]],
                   references: Sequence[Sequence[str]] | None = None,
                   prompts: Sequence[str] | None = None) -> dict[str, Scores]:
        """Sentence scores for K prediction lists (e.g. checkpoints) that share references.

        Metrics with reference-side caches (ROUGE, BERTScore) tokenise/embed each reference once
        for all K lists; the result equals calling :meth:`sentence_scores` K times.
        """
        if not isinstance(predictions, Mapping):
            raise DataError("expected a mapping {key (e.g. checkpoint): list of predictions}, "
                            f"found {type(predictions).__name__}", field="predictions")
        return {key: self.sentence_scores(predictions=preds, references=references,
                                          prompts=prompts)
                for key, preds in predictions.items()}

    # ------------------------------------------------------------------------------ plumbing

    def validate(self, *, predictions, references=None, prompts=None) -> Batch:
        preds = _check_str_list(predictions, "predictions")
        n = len(preds)
        refs = None
        if references is not None:
            refs = _check_references(references, n)
        elif self.needs_references:
            raise DataError(f"metric {self.name!r} needs references=", field="references")
        prm = None
        if prompts is not None:
            prm = _check_str_list(prompts, "prompts")
            if len(prm) != n:
                raise DataError(f"expected {n} prompts (one per prediction), found {len(prm)}",
                                field="prompts")
        elif self.needs_prompts:
            raise DataError(f"metric {self.name!r} needs prompts=", field="prompts")
        present = [i for i, p in enumerate(preds) if p is not None
                   and (refs is None or not self.needs_references or len(refs[i]) > 0)
                   and (prm is None or not self.needs_prompts or prm[i] is not None)]
        if refs is not None and self.needs_references and not self.supports_variable_references:
            counts = {len(refs[i]) for i in present}
            if len(counts) > 1:
                raise DataError(f"metric {self.name!r} needs the same number of references for "
                                f"every sample, found counts {sorted(counts)}",
                                field="references")
        index = np.asarray(present, dtype=np.int64)
        return Batch(predictions=[preds[i] for i in present],
                     references=None if refs is None else [refs[i] for i in present],
                     prompts=None if prm is None else [prm[i] for i in present],
                     index=index, n=n)

    @abstractmethod
    def _score(self, batch: Batch) -> Scores:
        """Scores for the present samples of ``batch`` (all inputs valid, none missing)."""

    def __repr__(self) -> str:
        return f"<Metric {self.signature()}>"


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    return float(present.mean()) if present.size else float("nan")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
