"""Score K prediction lists (e.g. K checkpoints) that share references, with several metrics.

The evaluation suite calls this once per evaluation round::

    scores = score_many([get_metric("rouge"), get_metric("bertscore")],
                        predictions={"checkpoint-100": preds_a, "checkpoint-200": preds_b},
                        references=refs)
    scores["checkpoint-100"]["rougeL"]    # float64 array, one value per sample, NaN = missing

Each metric keeps its reference-side caches (ROUGE tokens and n-grams, BERTScore embeddings and
idf) across the K lists, so references are processed once; the numbers are exactly those of
``metric.sentence_scores`` on each list.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import ConfigError, DataError
from .base import Metric, Scores


def score_many(metrics: Sequence[Metric] | Metric, *,
               predictions: Mapping[str, Sequence[str | None]],
               references: Sequence[Sequence[str]] | None = None,
               prompts: Sequence[str] | None = None) -> dict[str, Scores]:
    """``{key: {score_name: array}}`` for every key of ``predictions`` and every metric."""
    if isinstance(metrics, Metric):
        metrics = [metrics]
    if not isinstance(predictions, Mapping):
        raise DataError("expected a mapping {key (e.g. checkpoint): list of predictions}, "
                        f"found {type(predictions).__name__}", field="predictions")
    seen: dict[str, str] = {}
    for m in metrics:
        for s in m.score_names:
            if s in seen:
                raise ConfigError(f"score name {s!r} is produced by both {seen[s]!r} and "
                                  f"{m.name!r}; score them in separate calls")
            seen[s] = m.name
    out: dict[str, Scores] = {key: {} for key in predictions}
    for m in metrics:
        for key, scores in m.score_many(predictions=predictions, references=references,
                                        prompts=prompts).items():
            out[key].update(scores)
    return out
