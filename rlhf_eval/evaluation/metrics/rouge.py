"""ROUGE-1/2/L/Lsum (Lin, 2004) as computed by Google's rouge-score, with a fast engine.

Scores equal ``rouge_scorer.RougeScorer(types, use_stemmer=...).score(ref, pred)`` (tested to
1e-9; in practice bit-identical); the speed comes from :mod:`.rouge_engine` (per-text caches,
bit-parallel LCS) and optionally from several processes (``n_jobs``).

Several references: ``multi_ref="max"`` takes, per ROUGE type, the reference with the highest F
(rouge-score's ``score_multi``; ties go to the first); ``"mean"`` averages P, R and F over the
references. The corpus score is the mean of the sentence F-measures.

Sentence splitting only matters for rougeLsum: ``"newline"`` (rouge-score's default: one sentence
per line), ``"nltk"`` (``nltk.sent_tokenize``, what ``split_summaries=True`` does; needs the
punkt_tab data), or ``"punkt"`` (nltk's Punkt algorithm with its built-in defaults, which needs no
downloaded data).
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

import numpy as np

from ...errors import ConfigError
from .base import Batch, Metric, Scores, yes_no
from .rouge_engine import ROUGE_N_RE, CasedTokenizer, DefaultTokenizer, RougeEngine

SPLITS = ("newline", "nltk", "punkt")
MULTI_REF = ("max", "mean")
_PARALLEL_MIN_PAIRS = 4000  # below this, forking costs more than it saves


def _split_newline(text: str) -> list[str]:
    # rouge-score's get_sents with split_summaries=False
    return [s for s in text.split("\n") if len(s)]


def _split_nltk(text: str) -> list[str]:
    import nltk

    return [s for s in nltk.sent_tokenize(text) if len(s)]


@lru_cache(maxsize=1)
def _punkt():
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer()


def _split_punkt(text: str) -> list[str]:
    return [s for s in _punkt().tokenize(text) if len(s)]


def _check_nltk_data() -> None:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        raise ConfigError("split='nltk' needs nltk's punkt_tab data, which is not installed "
                          "(python -m nltk.downloader punkt_tab); use split='punkt' (Punkt "
                          "without downloaded data) or split='newline'") from None


class RougeMetric(Metric):
    name = "rouge"
    needs_references = True

    def __init__(self, rouge_types=("rouge1", "rouge2", "rougeL", "rougeLsum"), *,
                 use_stemmer: bool = True, lowercase: bool = True, split: str = "newline",
                 multi_ref: str = "max", include_pr: bool = False, n_jobs: int = 1,
                 tokenizer=None):
        if isinstance(rouge_types, str):
            rouge_types = (rouge_types,)
        bad = [t for t in rouge_types if not (ROUGE_N_RE.match(t) or t in ("rougeL", "rougeLsum"))]
        if bad or not rouge_types:
            raise ConfigError(f"rouge: unknown rouge type(s) {bad or rouge_types}; expected "
                              "rouge1..rouge9, rougeL or rougeLsum")
        if split not in SPLITS:
            raise ConfigError(f"rouge: split must be one of {SPLITS}, found {split!r}")
        if multi_ref not in MULTI_REF:
            raise ConfigError(f"rouge: multi_ref must be one of {MULTI_REF}, found {multi_ref!r}")
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ConfigError(f"rouge: n_jobs must be a positive integer, found {n_jobs!r}")
        if split == "nltk":
            _check_nltk_data()
        self.rouge_types = tuple(rouge_types)
        self.use_stemmer, self.lowercase, self.split = bool(use_stemmer), bool(lowercase), split
        self.multi_ref, self.include_pr, self.n_jobs = multi_ref, bool(include_pr), n_jobs
        self.custom_tokenizer = tokenizer  # any object with .tokenize(text) (rouge-score's API)
        names = list(self.rouge_types)
        if include_pr:
            names += [f"{t}_{c}" for t in self.rouge_types for c in ("precision", "recall")]
        self.score_names = tuple(names)
        self.higher_is_better = {k: True for k in self.score_names}
        self.engine = RougeEngine(self.rouge_types, self._make_tokenizer(),
                                  {"newline": _split_newline, "nltk": _split_nltk,
                                   "punkt": _split_punkt}[split])

    def _make_tokenizer(self):
        if self.custom_tokenizer is not None:
            return self.custom_tokenizer
        return (DefaultTokenizer if self.lowercase else CasedTokenizer)(self.use_stemmer)

    def signature(self) -> str:
        from importlib.metadata import version

        tok = ("custom:" + type(self.custom_tokenizer).__name__ if self.custom_tokenizer
               else "rouge-score-default")
        return "|".join([
            "rouge", f"rouge-score={version('rouge-score')}", f"nltk={version('nltk')}",
            f"types={'+'.join(self.rouge_types)}", f"stem={yes_no(self.use_stemmer)}",
            f"lower={yes_no(self.lowercase)}", f"tok={tok}", f"split={self.split}",
            f"multi_ref={self.multi_ref}", "agg=mean-f"])

    # ------------------------------------------------------------------------------ scoring

    def _score(self, batch: Batch) -> Scores:
        n_pairs = sum(len(r) for r in batch.references)
        if self.n_jobs > 1 and n_pairs >= _PARALLEL_MIN_PAIRS:
            return self._score_parallel(batch)
        return _score_rows(self, batch.predictions, batch.references)

    def _score_parallel(self, batch: Batch) -> Scores:
        # Analyse every reference here first: forked workers inherit the cache, so shared
        # references are still tokenised once; predictions are split across the workers.
        for refs in batch.references:
            for r in refs:
                self.engine.analyse(r)
        bounds = np.linspace(0, len(batch.predictions), self.n_jobs + 1).astype(int)
        chunks = [(batch.predictions[a:b], batch.references[a:b])
                  for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        global _WORKER_METRIC
        _WORKER_METRIC = self
        with ProcessPoolExecutor(max_workers=len(chunks), mp_context=_fork_context()) as pool:
            parts = list(pool.map(_score_chunk, chunks))
        return {k: np.concatenate([p[k] for p in parts]) for k in self.score_names}


_WORKER_METRIC: RougeMetric | None = None


def _fork_context():
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():  # pragma: no cover - Windows/macOS spawn
        raise ConfigError("rouge: n_jobs > 1 needs the 'fork' start method (Linux); use n_jobs=1")
    return mp.get_context("fork")


def _score_chunk(chunk) -> Scores:
    preds, refs = chunk
    return _score_rows(_WORKER_METRIC, preds, refs)


def _score_rows(metric: RougeMetric, predictions, references) -> Scores:
    engine, types = metric.engine, metric.rouge_types
    n = len(predictions)
    prf = {t: np.empty((n, 3)) for t in types}  # (N, 3): precision, recall, fmeasure
    for i, (pred, refs) in enumerate(zip(predictions, references)):
        p = engine.analyse(pred)
        per_ref = [engine.score_pair(engine.analyse(r), p) for r in refs]
        for t in types:
            rows = np.array([s[t] for s in per_ref], dtype=np.float64)  # (K, 3)
            if metric.multi_ref == "max":
                prf[t][i] = rows[int(np.argmax(rows[:, 2]))]  # score_multi: first max F
            else:
                prf[t][i] = rows.mean(axis=0)
    out = {t: prf[t][:, 2] for t in types}
    if metric.include_pr:
        for t in types:
            out[f"{t}_precision"] = prf[t][:, 0]
            out[f"{t}_recall"] = prf[t][:, 1]
    return out
