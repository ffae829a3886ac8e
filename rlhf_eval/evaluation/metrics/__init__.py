"""Automatic metrics behind one small interface, with a registry.

    from rlhf_eval.evaluation.metrics import get_metric
    rouge = get_metric("rouge", use_stemmer=True, multi_ref="max")
    rouge.sentence_scores(predictions=preds, references=refs)   # {"rouge1": array, ...}
    rouge.corpus_score(predictions=preds, references=refs)      # {"rouge1": float, ...}
    rouge.signature()                                           # "rouge|rouge-score=0.1.2|..."

Built-ins: rouge, bleu, chrf, bertscore, length, distinct, repetition, moverscore, and the
likelihood metrics gptscore (source -> output) and bartscore (reference <-> output). Other
modules add their own with ``register_metric`` (``evaluation.model_metrics`` adds reward and
kl, the lab's ``lab.metric`` adds gold). Importing this package is cheap: each built-in's
module (and torch, sacrebleu, nltk) loads on first use.
"""
from .base import Batch, Metric, Scores
from .batch import score_many
from .registry import get_metric, list_metrics, register_metric

_BUILTINS = {
    "rouge": "rlhf_eval.evaluation.metrics.rouge:RougeMetric",
    "bleu": "rlhf_eval.evaluation.metrics.sacrebleu_metrics:BleuMetric",
    "chrf": "rlhf_eval.evaluation.metrics.sacrebleu_metrics:ChrfMetric",
    "bertscore": "rlhf_eval.evaluation.metrics.bertscore:BertScoreMetric",
    "length": "rlhf_eval.evaluation.metrics.degeneration:LengthMetric",
    "distinct": "rlhf_eval.evaluation.metrics.degeneration:DistinctMetric",
    "repetition": "rlhf_eval.evaluation.metrics.degeneration:RepetitionMetric",
    "moverscore": "rlhf_eval.evaluation.metrics.moverscore:MoverScoreMetric",
    "gptscore": "rlhf_eval.evaluation.metrics.likelihood:gptscore",
    "bartscore": "rlhf_eval.evaluation.metrics.likelihood:bartscore",
}
for _name, _factory in _BUILTINS.items():
    register_metric(_name, _factory)
register_metric("bert_score", _BUILTINS["bertscore"])  # the PyPI package's spelling

__all__ = ["Batch", "Metric", "Scores", "get_metric", "list_metrics", "register_metric",
           "score_many"]
