"""BERTScore rescale baselines computed offline, for any encoder.

``bert_score`` ships baselines (``rescale_baseline/<lang>/<model>.tsv``) only for hub models; a
local encoder such as the bundled MiniLM has none, so ``rescale_with_baseline`` could not be
used. bert_score computed its baselines (Zhang et al. 2020, Sec. 3 and its
``get_rescale_baseline.py``) as the mean P, R, F of BERTScore between *random pairs of unrelated
sentences* (Common Crawl, 1M pairs), one row per layer, and rescales a score x as
``(x - b) / (1 - b)`` so that unrelated text scores about 0.

Here the same procedure runs on a corpus bundled with the project: sentences of the HH-RLHF
helpful-base test dialogues (``data/hh-rlhf``, MIT; general conversational English, not Common
Crawl, and 2,000 pairs by default instead of 1M: the baseline's standard error is printed in the
sidecar, about 1e-3 for MiniLM). Pairs are drawn from a seeded generator; a sentence is never
paired with itself. The result is written in bert_score's TSV layout (``LAYER,P,R,F``, row =
layer; rows not computed are empty) with a JSON sidecar saying how it was made, under
``<cache>/bertscore-baselines/``. :class:`~.bertscore.BertScoreMetric` uses it when
``rescale_with_baseline=True`` and bert_score ships no file for the model, and its signature then
carries the baseline values and their provenance.

The pairs are scored with this project's BERTScore, not ``bert_score.score``: on unrelated
sentences they differ by about 3e-4 (a token whose best cosine is negative counts 0 in
bert_score, which also maxes over its zeroed padding; see bertscore.py), and a baseline should
map unrelated pairs of the scores it rescales to about 0.

Which layer: bert_score's ``model2layers`` table for hub models it knows (e.g. roberta-large: 17,
bert-base-uncased: 9); for the bundled MiniLM (all-MiniLM-L6-v2) the last of its 6 layers, which
is what ``bertscore`` uses by default; any other model needs ``num_layers=``.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import ConfigError

DEFAULT_PAIRS = 2000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def bundled_sentences(min_words: int = 5, max_words: int = 40) -> list[str]:
    """Distinct sentences of the bundled HH-RLHF helpful-base dialogues, in file order."""
    from ...bundled import bundled_path
    from ...io import read_records

    out: dict[str, None] = {}
    for pair in read_records(bundled_path("hh-rlhf/helpful-base"), "pair", adapter="hh-rlhf",
                             on_error="skip").records:
        text = pair.prompt + " " + pair.chosen
        for turn in re.split(r"(?:Human|Assistant):", text):
            for s in _SENTENCE_END.split(turn.strip()):
                if min_words <= len(s.split()) <= max_words:
                    out.setdefault(s.strip(), None)
    return list(out)


def random_pairs(sentences: list[str], n_pairs: int, seed: int) -> tuple[list[str], list[str]]:
    """``n_pairs`` (candidate, reference) pairs of two different sentences, seeded."""
    if len(sentences) < 2:
        raise ConfigError("a rescale baseline needs at least 2 distinct sentences")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(sentences), n_pairs)
    b = rng.integers(0, len(sentences) - 1, n_pairs)
    b = b + (b >= a)  # uniform over the other sentences: never a sentence with itself
    return [sentences[i] for i in a], [sentences[i] for i in b]


PairScorer = Callable[[list[str], list[str]], np.ndarray]  # (hyps, refs) -> (N, 3) P, R, F


def baseline_scores(scorer: PairScorer, hyps: list[str], refs: list[str]) -> np.ndarray:
    """Mean (P, R, F) of plain BERTScore (no idf, no rescaling; ``scorer``, from
    :func:`rlhf_eval.evaluation.metrics.bertscore.plain_pair_scorer`) over the pairs, and their
    standard errors: array of shape (2, 3)."""
    prf = np.asarray(scorer(hyps, refs), dtype=np.float64)
    return np.stack([prf.mean(0), prf.std(0, ddof=1) / np.sqrt(len(prf))])


def rescale(scores: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """bert_score's rescaling: (x - b) / (1 - b), per column P, R, F."""
    return (scores - baseline) / (1 - baseline)


def _model_key(model_type: str) -> str:
    p = Path(model_type)
    if p.is_dir():
        cfg = p / "config.json"
        digest = hashlib.sha1(cfg.read_bytes()).hexdigest()[:8] if cfg.is_file() else "nocfg"
        return f"{p.name}@{digest}"
    return model_type.replace("/", "__")


def baseline_dir() -> Path:
    from ...smollm2 import cache_root

    return cache_root() / "bertscore-baselines"


def baseline_file(model_type: str, *, n_pairs: int = DEFAULT_PAIRS, seed: int = 0,
                  folder: Path | None = None) -> Path:
    folder = Path(folder) if folder else baseline_dir()
    return folder / f"{_model_key(model_type)}.hh-rlhf.{n_pairs}pairs.seed{seed}.tsv"


def ensure_baseline(model_type: str, layer: int, scorer: PairScorer, *,
                    n_pairs: int = DEFAULT_PAIRS, seed: int = 0,
                    folder: Path | None = None) -> tuple[Path, dict]:
    """The TSV (bert_score layout) holding ``layer``'s baseline for ``model_type``, computed
    with ``scorer`` (plain BERTScore of that model and layer) if missing; returns
    (path, provenance). Written atomically; idempotent. (The scorer is passed in, not built
    here, so that bertscore.py may import this module without an import cycle.)"""
    import pandas as pd

    from ...io import atomic_write_json, atomic_write_text

    path = baseline_file(model_type, n_pairs=n_pairs, seed=seed, folder=folder)
    side = path.with_suffix(".json")
    table = (pd.read_csv(path) if path.is_file()
             else pd.DataFrame({"LAYER": [], "P": [], "R": [], "F": []}))
    meta = json.loads(side.read_text()) if side.is_file() else {}
    if layer < len(table) and not table.iloc[layer][["P", "R", "F"]].isna().any():
        return path, meta
    sentences = bundled_sentences()
    hyps, refs = random_pairs(sentences, n_pairs, seed)
    mean, stderr = baseline_scores(scorer, hyps, refs)
    rows = max(len(table), layer + 1)
    table = table.reindex(range(rows))
    table["LAYER"] = range(rows)
    table.loc[layer, ["P", "R", "F"]] = mean
    corpus_sha = hashlib.sha1("\n".join(sentences).encode()).hexdigest()[:12]
    meta = {"model": model_type, "corpus": "data/hh-rlhf/helpful-base sentences",
            "corpus_sha1": corpus_sha, "n_sentences": len(sentences), "n_pairs": n_pairs,
            "seed": seed, "idf": False, "method": "mean P/R/F of random unrelated pairs "
            "(bert_score get_rescale_baseline.py)",
            "stderr": {**meta.get("stderr", {}), str(layer): stderr.round(6).tolist()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, table.to_csv(index=False))
    atomic_write_json(side, meta)
    return path, meta
