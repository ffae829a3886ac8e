"""Score a policy's completions on lab prompts: gold reward aspects and ROUGE-L.

ROUGE-L comes from the ``rouge-score`` package (Lin 2004; Google's reference implementation),
F-measure with stemming, against the lab's reference summary.
"""
from __future__ import annotations

from typing import Sequence

from ..errors import DataError
from .gold import gold_rewards


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise DataError(f"expected as many predictions as references, found "
                        f"{len(predictions)} and {len(references)}", field="references")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)]


def score_completions(*, prompts: Sequence[str], completions: Sequence[str],
                      references: Sequence[str]):
    """One row per completion: ``gold``, ``gold_coverage``, ``gold_invented``,
    ``gold_brevity``, ``rougeL`` and ``words``."""
    df = gold_rewards(prompts, completions)
    df["rougeL"] = rouge_l(completions, references)
    df["words"] = [len(c.split()) for c in completions]
    return df
