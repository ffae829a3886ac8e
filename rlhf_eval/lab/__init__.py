"""The lab: a synthetic summarisation task where the truth is known.

Documents are built from facts; the gold reward scores a completion from the prompt text alone;
simulated annotators (Bradley-Terry on the gold reward, with noise and a length bias) produce
preference pairs, rankings and Likert ratings whose agreement with the gold reward is known in
advance. See ``data/lab/README.md`` for the files and the knobs.

Public API::

    cfg = lab_config("demo", seed=0); ds = generate_lab(cfg); write_lab(ds, "runs/lab")
    gold_reward(prompt, completion) -> {"gold", "gold_coverage", "gold_invented", "gold_brevity"}
    gold_rewards(prompts, completions) -> pandas.DataFrame (same columns)
    expected_agreement(pairs), annotator_gold_agreement(pairs), label_ceiling(pairs),
    rm_ceilings(pairs) -> {"label", "gold"}: what the best reward model can reach
"""
from .annotators import (DEFAULT_ANNOTATORS, RATING_ASPECTS, Annotator, annotate_pair,
                         annotate_ranking, annotator_gold_agreement, expected_agreement,
                         label_ceiling, rate_sample, rm_ceilings)
from .dataset import SIZES, LabConfig, LabDataset, generate_lab, lab_config
from .documents import DocumentConfig, LabExample, read_document
from .files import FILES, write_lab
from .gold import ASPECTS, COLUMNS, GoldWeights, gold_reward, gold_rewards, word_budget
from .grammar import SEPARATOR, Fact, format_prompt, parse_facts

__all__ = [
    "ASPECTS", "COLUMNS", "DEFAULT_ANNOTATORS", "FILES", "RATING_ASPECTS", "SEPARATOR", "SIZES",
    "Annotator", "DocumentConfig", "Fact", "GoldWeights", "LabConfig", "LabDataset",
    "LabExample", "annotate_pair", "annotate_ranking", "annotator_gold_agreement",
    "expected_agreement", "format_prompt", "generate_lab", "gold_reward", "gold_rewards",
    "lab_config", "label_ceiling", "parse_facts", "rate_sample", "read_document", "rm_ceilings",
    "word_budget", "write_lab",
]
