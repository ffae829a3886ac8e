"""Published SummEval summary-level correlations, printed next to ours by ``correlate --summeval``.

Average over the four aspects (coherence, consistency, fluency, relevance) of the summary-level
Spearman correlation with the expert ratings, from G-Eval (Liu et al. 2023, Table 1; its
BARTScore row is Yuan et al. 2021's BARTScore). Their setups differ from ours: ROUGE/BERTScore/
MoverScore there use their papers' models (BERTScore roberta-large, MoverScore BERT-MNLI),
BARTScore uses BART-large fine-tuned on CNN/DM (+ParaBank), GPTScore uses GPT-3 (text-davinci);
here the encoder is MiniLM and the LM SmolLM2-135M-Instruct, so the rows compare rankings, not
values.
"""
from __future__ import annotations

import pandas as pd

from .correlation_report import fmt

SOURCE = "G-Eval (Liu et al. 2023) Table 1, summary-level, mean over the 4 aspects"

# (published row, average Spearman), at the precision quoted in issue 20 (printed as given)
PUBLISHED_SPEARMAN = (
    ("ROUGE-1", 0.19), ("ROUGE-2", 0.21), ("ROUGE-L", 0.17), ("BERTScore", 0.23),
    ("MoverScore", 0.19), ("BARTScore", 0.385), ("GPTScore", 0.417),
)

# our score column -> the published row it corresponds to
ROW_OF = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
          "rougeLsum": "ROUGE-L", "bertscore_f": "BERTScore", "moverscore": "MoverScore",
          "bartscore_f": "BARTScore", "bartscore_p": "BARTScore", "bartscore_r": "BARTScore",
          "gptscore": "GPTScore"}


def our_averages(results: pd.DataFrame) -> pd.DataFrame:
    """Per metric: the summary-level Spearman and Kendall averaged over the aspects present."""
    part = results[(results["level"] == "summary")
                   & results["method"].isin(["spearman", "kendall"])]
    if part.empty:
        return pd.DataFrame(columns=["metric", "spearman", "kendall", "n_aspects"])
    wide = part.pivot_table(index="metric", columns="method", values="value", aggfunc="mean")
    n = part[part["method"] == "spearman"].groupby("metric")["aspect"].nunique()
    out = wide.reindex(columns=["spearman", "kendall"]).assign(n_aspects=n).reset_index()
    return out.sort_values("spearman", ascending=False, na_position="last")


def comparison_markdown(results: pd.DataFrame) -> str:
    """Our averages (ranked) next to the published row of the same metric family."""
    published = dict(PUBLISHED_SPEARMAN)
    ours = our_averages(results)
    lines = ["## Next to the published SummEval rows\n",
             f"Published: {SOURCE}. Ours: the same level and aspects on this run's data.\n",
             "| our metric | Spearman (avg) | Kendall (avg) | published row | published "
             "Spearman (avg) |", "|---|---|---|---|---|"]
    for _, r in ours.iterrows():
        row = ROW_OF.get(r["metric"])
        lines.append(f"| {r['metric']} | {fmt(r['spearman'])} | {fmt(r['kendall'])} | "
                     f"{row or '—'} | {published.get(row, '—')} |")
    ranked = " > ".join(f"{name} {v}" for name, v in
                        sorted(PUBLISHED_SPEARMAN, key=lambda x: -x[1]))
    lines.append(f"\nPublished ranking: {ranked}. The published models differ from ours "
                 "(module doc of rlhf_eval.evaluation.summeval_published).")
    return "\n".join(lines)
