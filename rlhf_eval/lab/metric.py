"""The lab's gold reward as an evaluation metric, ``gold``: the lab plugs it into the metric
registry (:mod:`rlhf_eval.evaluation.metrics.registry` names this module as the provider of
``gold``, imported on first use), so evaluation never imports the lab.

Scores: ``gold``, ``gold_coverage``, ``gold_invented``, ``gold_brevity``
(:func:`rlhf_eval.lab.gold_reward`); NaN for a prompt that is not a lab document (the gold
reward is undefined there, not zero).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..evaluation.metrics import Metric, register_metric
from ..evaluation.metrics.base import Batch, Scores
from .gold import DEFAULT_WEIGHTS, gold_reward


class GoldMetric(Metric):
    name = "gold"
    score_names = ("gold", "gold_coverage", "gold_invented", "gold_brevity")
    higher_is_better = {k: True for k in score_names}
    needs_references = False
    needs_prompts = True

    def signature(self) -> str:
        w = DEFAULT_WEIGHTS
        return (f"gold|lab.gold_reward|invented={w.invented_weight}|budget={w.budget_factor}|"
                f"overflow={w.overflow_weight}|repeat={w.repeat_weight}|junk={w.junk_weight}")

    def _score(self, batch: Batch) -> Scores:
        out = {k: np.full(len(batch.predictions), np.nan) for k in self.score_names}
        for i, (p, c) in enumerate(zip(batch.prompts, batch.predictions)):
            try:
                g = gold_reward(p, c)
            except DataError:
                continue  # not a lab document: gold is undefined here (NaN, never 0)
            for k in self.score_names:
                out[k][i] = g[k]
        return out


register_metric("gold", GoldMetric)
