"""rlhf-eval's metrics as a Hugging Face ``evaluate`` module, loadable offline.

``evaluate.load("rouge")`` fetches a script from the Hub and fails without a network; this
local module needs none and gives rlhf-eval's numbers (the same as rouge-score, sacrebleu,
bert-score called directly):

    import evaluate
    from rlhf_eval.hf_metric import module_path
    rouge = evaluate.load(module_path(), "rouge")          # config name = rlhf-eval metric name
    rouge.compute(predictions=preds, references=refs)      # {"rouge1": ..., "rougeL": ...}
    evaluate.load(module_path(), "reward").compute(predictions=c, prompts=p, model="runs/rm")

Keyword arguments of ``compute`` other than predictions/references/prompts are the metric's
options (``use_stemmer=True``, ``model=...``). Results are corpus scores
(:meth:`rlhf_eval.evaluation.metrics.Metric.corpus_score`: corpus BLEU/chrF, means otherwise).
"""
from __future__ import annotations

from pathlib import Path


def module_path() -> str:
    """The path to pass to ``evaluate.load`` (a local script: nothing is downloaded)."""
    return str(Path(__file__).with_name("rlhf_eval_metric.py"))
