"""An ``evaluate`` module over rlhf-eval's metric registry (config name = metric name).

Loaded by ``evaluate.load(rlhf_eval.hf_metric.module_path(), "<metric>")``; see
:mod:`rlhf_eval.hf_metric`.
"""
import datasets
import evaluate

from rlhf_eval.evaluation.metrics import get_metric, list_metrics

_DESCRIPTION = "rlhf-eval metrics (ROUGE, BLEU, chrF, BERTScore, length, distinct, repetition, " \
               "reward, gold) with their signatures, usable offline."
_KWARGS = """predictions: list of str; references: list of str or list of list of str (for
reference-based metrics); prompts: list of str (reward, gold); other keyword arguments are the
metric's options. Returns the corpus scores, plus "signature"."""


class RlhfEvalMetric(evaluate.Metric):
    def _metric(self, options=None):
        name = self.config_name if self.config_name != "default" else "rouge"
        if name not in list_metrics():
            raise ValueError(f"unknown rlhf-eval metric {name!r}; available: {list_metrics()}")
        return get_metric(name, **(options or {}))

    def _info(self):
        needs_refs = self._metric().needs_references
        if needs_refs:
            features = [datasets.Features({"predictions": datasets.Value("string"),
                                           "references": datasets.Sequence(
                                               datasets.Value("string"))}),
                        datasets.Features({"predictions": datasets.Value("string"),
                                           "references": datasets.Value("string")})]
        else:
            features = datasets.Features({"predictions": datasets.Value("string")})
        return evaluate.MetricInfo(description=_DESCRIPTION, citation="",
                                   inputs_description=_KWARGS, features=features,
                                   module_type="metric")

    def _compute(self, predictions, references=None, prompts=None, **options):
        metric = self._metric(options)
        if references is not None:
            references = [[r] if isinstance(r, str) else list(r) for r in references]
        out = metric.corpus_score(predictions=list(predictions), references=references,
                                  prompts=list(prompts) if prompts is not None else None)
        return {**{k: float(v) for k, v in out.items()}, "signature": metric.signature()}
