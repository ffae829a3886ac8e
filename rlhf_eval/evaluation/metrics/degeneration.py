"""Reference-free diagnostics of degenerate generations: length, distinct-n, repetition.

PPO policies drift toward long, repetitive or collapsed outputs when the reward model rewards
length (Singhal et al., 2023) or is over-optimised; these cheap scores make that visible.

- ``length``: tokens (whitespace words, or the tokens of a given Hugging Face tokenizer) and
  characters. No preferred direction (``higher_is_better`` is None).
- ``distinct``: distinct-n (Li et al., 2016): distinct n-grams / n-grams. Per sample within the
  sample; the corpus score is the corpus statistic (distinct n-grams over all samples / all
  n-grams), as in the paper, not a mean. A sample with no n-gram (shorter than n) is NaN.
- ``repetition``: seq-rep-n (Welleck et al., 2020): 1 - distinct n-grams / n-grams within a sample,
  i.e. the fraction of n-gram occurrences that repeat an earlier one; corpus = mean over samples.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import ConfigError
from .base import Batch, Metric, Scores


class _Tokenized(Metric):
    """Shared tokenisation: ``tokenizer=None`` splits on whitespace, else an HF tokenizer
    (an id/path string or an object with ``.tokenize``)."""

    needs_references = False

    def __init__(self, tokenizer=None):
        self.tokenizer_name = "whitespace"
        self._tok = None
        if isinstance(tokenizer, str):
            from ...models import load_tokenizer

            self._tok = load_tokenizer(tokenizer)
            self.tokenizer_name = tokenizer
        elif tokenizer is not None:
            if not hasattr(tokenizer, "tokenize"):
                raise ConfigError(f"{self.name}: tokenizer must be None (whitespace), a model "
                                  f"id/path, or an object with .tokenize(); found "
                                  f"{type(tokenizer).__name__}")
            self._tok = tokenizer
            self.tokenizer_name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__

    def tokens(self, text: str) -> list[str]:
        return text.split() if self._tok is None else self._tok.tokenize(text)


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _check_orders(orders, metric: str) -> tuple[int, ...]:
    if isinstance(orders, int):
        orders = (orders,)
    orders = tuple(orders)
    if not orders or any(not isinstance(n, int) or n < 1 for n in orders):
        raise ConfigError(f"{metric}: n must be positive integers, found {orders!r}")
    return orders


class LengthMetric(_Tokenized):
    name = "length"
    score_names = ("length", "length_chars")
    higher_is_better = {"length": None, "length_chars": None}

    def signature(self) -> str:
        return f"length|unit={self.tokenizer_name}"

    def _score(self, batch: Batch) -> Scores:
        return {"length": np.array([len(self.tokens(p)) for p in batch.predictions], float),
                "length_chars": np.array([len(p) for p in batch.predictions], float)}


def _unique_fractions(token_lists, n: int) -> np.ndarray:
    """Per sample: distinct n-grams / all n-grams; NaN where a sample has no n-gram."""
    vals = []
    for t in token_lists:
        grams = _ngrams(t, n)
        vals.append(len(set(grams)) / len(grams) if grams else np.nan)
    return np.array(vals, dtype=np.float64)


class DistinctMetric(_Tokenized):
    name = "distinct"

    def __init__(self, n=(1, 2), *, tokenizer=None):
        super().__init__(tokenizer)
        self.orders = _check_orders(n, "distinct")
        self.score_names = tuple(f"distinct_{k}" for k in self.orders)
        self.higher_is_better = {k: True for k in self.score_names}

    def signature(self) -> str:
        return f"distinct|n={'+'.join(map(str, self.orders))}|unit={self.tokenizer_name}"

    def _score(self, batch: Batch) -> Scores:
        toks = [self.tokens(p) for p in batch.predictions]
        return {f"distinct_{n}": _unique_fractions(toks, n) for n in self.orders}

    def corpus_score(self, *, predictions, references=None, prompts=None) -> dict[str, float]:
        batch = self.validate(predictions=predictions, references=references, prompts=prompts)
        toks = [self.tokens(p) for p in batch.predictions]
        out = {}
        for n in self.orders:
            grams = [g for t in toks for g in _ngrams(t, n)]
            out[f"distinct_{n}"] = len(set(grams)) / len(grams) if grams else float("nan")
        return out


class RepetitionMetric(_Tokenized):
    name = "repetition"

    def __init__(self, n=(2, 4), *, tokenizer=None):
        super().__init__(tokenizer)
        self.orders = _check_orders(n, "repetition")
        self.score_names = tuple(f"rep_{k}" for k in self.orders)
        self.higher_is_better = {k: False for k in self.score_names}

    def signature(self) -> str:
        return f"repetition|seq-rep-n|n={'+'.join(map(str, self.orders))}|unit={self.tokenizer_name}"

    def _score(self, batch: Batch) -> Scores:
        toks = [self.tokens(p) for p in batch.predictions]
        # seq-rep-n (Welleck et al. 2020) is one minus the per-sample distinct-n
        return {f"rep_{n}": 1.0 - _unique_fractions(toks, n) for n in self.orders}
