"""Data for the Correlations page: metric x human-aspect correlations from three sources.

1. A precomputed table written by ``rlhf-eval correlate --out DIR`` (tidy: metric, aspect,
   level, method, value, ci_low, ci_high, n, ...), found in the run folder or given as a path.
2. SummEval (Fabbri et al. 2021, bundled in ``data/summeval``), scored on demand with the fast
   reference-based metrics (ROUGE, BLEU, chrF; BERTScore over all 1,600 summaries takes ~2 min
   on a CPU, so it is opt-in), cached per metric signature by
   :mod:`rlhf_eval.evaluation.correlation_inputs`.
3. The store's own human judgments (``human_judgments``: gen_id, aspect, score) joined with
   the automatic scores of the same generations: inputs = prompts, systems = checkpoints.

Correlations themselves come from :mod:`rlhf_eval.evaluation.correlation` (three levels,
Pearson/Spearman/Kendall, bootstrap intervals); this module only shapes tables for it.
Pairwise tables (:mod:`rlhf_eval.evaluation.correlation_pairwise`) compare each metric's
preference with human choices: the Label page's labels, next to the annotators' own agreement
(the ceiling a metric cannot meaningfully exceed), or SummEval choices derived from the ratings.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

FAST_METRICS = ("rouge", "bleu", "chrf")
SLOW_METRICS = ("bertscore", "moverscore", "gptscore", "bartscore")  # model-based: opt-in
SUMMEVAL_ASPECTS = ("coherence", "consistency", "fluency", "relevance")
TIDY_COLUMNS = ("metric", "aspect", "level", "method", "value", "ci_low", "ci_high", "n")
TABLE_NAMES = ("correlations.json", "correlations.csv", "correlations.parquet")
SCORED_NAMES = ("scores.parquet", "scored.parquet", "table.parquet", "scores.csv")


# ------------------------------------------------------------------------- precomputed tables

def find_precomputed(folders: Sequence[str | Path]) -> list[Path]:
    """Correlation tables under ``folders`` (the folder itself and a ``correlations/`` child)."""
    found = []
    for folder in folders:
        for base in (Path(folder), Path(folder) / "correlations"):
            for name in TABLE_NAMES:  # one per folder; JSON first: it has the pairwise table
                if (base / name).is_file():
                    found.append(base / name)
                    break
    return list(dict.fromkeys(found))


def read_correlation_table(path: str | Path) -> pd.DataFrame:
    """A tidy correlation table from Parquet, CSV or JSON (a list of rows, or an object with a
    ``correlations``/``rows`` list); raises DataError naming the missing column."""
    from ..errors import DataError

    path = Path(path)
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    elif path.suffix == ".csv":
        table = pd.read_csv(path)
    else:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, dict):
            data = data.get("correlations", data.get("rows", data))
        if not isinstance(data, list):
            raise DataError("expected a list of correlation rows", path=str(path))
        table = pd.DataFrame(data)
    for col in ("metric", "aspect", "level", "method", "value"):
        if col not in table.columns:
            raise DataError(f"column not found; the table has {', '.join(map(str, table.columns))}",
                            path=str(path), field=col)
    for col in ("ci_low", "ci_high", "n"):
        if col not in table.columns:
            table[col] = np.nan
    return table


# ------------------------------------------------------------------------------- SummEval

def summeval_subset(n_docs: int | None = None) -> pd.DataFrame:
    """The bundled SummEval table, restricted to the first ``n_docs`` documents (file order)."""
    from ..evaluation.correlation_inputs import summeval_table

    table = summeval_table()
    if n_docs is not None:
        keep = list(dict.fromkeys(table["doc_id"]))[:n_docs]
        table = table[table["doc_id"].isin(keep)].reset_index(drop=True)
    return table


def score_summeval(n_docs: int | None, metrics: Sequence = FAST_METRICS,
                   cache_dir: str | Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """SummEval rows with one column per metric score; returns (table, score columns).
    ``metrics``: registry names or metric objects (:mod:`rlhf_eval.evaluation.metrics`)."""
    from ..evaluation.correlation_inputs import SUMMEVAL_SPEC, add_metric_scores

    table = summeval_subset(n_docs)
    scored, signatures = add_metric_scores(table, list(metrics), SUMMEVAL_SPEC,
                                           cache_dir=cache_dir)
    return scored, list(signatures)


# --------------------------------------------------------------------------- the store's own

def store_human_table(scores: pd.DataFrame, judgments: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                               list[str],
                                                                               list[str]]:
    """One row per judged generation: sample_id (input), system (run/checkpoint), the mean
    human score per aspect (over annotators) and every automatic metric. Returns
    (table, metric columns, aspect columns)."""
    if judgments.empty or scores.empty:
        return pd.DataFrame(), [], []
    human = judgments.pivot_table(index="gen_id", columns="aspect", values="score",
                                  aggfunc="mean")
    auto = scores.pivot_table(index="gen_id", columns="metric", values="value", aggfunc="first")
    ids = scores.drop_duplicates("gen_id").set_index("gen_id")[["sample_id", "run",
                                                                "checkpoint"]]
    aspects = [f"human_{a}" for a in human.columns]
    human.columns = aspects
    table = ids.join(human, how="inner").join(auto, how="left").reset_index()
    table["system"] = table["run"] + "/" + table["checkpoint"]
    return table, [str(m) for m in auto.columns], aspects


# ------------------------------------------------------------------------------ correlating

def correlation_matrix(table: pd.DataFrame, metrics: Sequence[str], aspects: Sequence[str], *,
                       level: str, method: str, id_col: str = "doc_id",
                       system_col: str = "system", n_resamples: int = 200,
                       seed: int = 0) -> pd.DataFrame:
    """Tidy correlations for every metric x aspect at one level and method, each cell by
    :func:`rlhf_eval.correlate` (the function behind ``rlhf-eval correlate``). A cell whose
    correlation is undefined (constant scores, too few systems) gets value NaN and the reason
    in ``note`` rather than failing the whole matrix."""
    from ..evaluation.correlate import CorrelationSource, correlate
    from ..evaluation.correlation_inputs import TableSpec
    from ..stats import StatsError

    rows = []
    for aspect in aspects:
        for metric in metrics:
            source = CorrelationSource(table, TableSpec(id_col, system_col,
                                                        human_cols=(aspect,)),
                                       [aspect], "<dashboard table>")
            try:
                part = correlate(source, metric_cols=[metric], levels=(level,),
                                 methods=(method,), n_resamples=n_resamples, seed=seed).results
                rows.append({**part.iloc[0].to_dict(), "note": ""})
            except StatsError as exc:
                rows.append({"metric": metric, "aspect": aspect, "level": level,
                             "method": method, "value": math.nan, "ci_low": math.nan,
                             "ci_high": math.nan, "n": 0, "note": str(exc)})
    return pd.DataFrame(rows)


def single_correlation(table: pd.DataFrame, metric: str, aspect: str, *, level: str,
                       method: str, id_col: str = "doc_id", system_col: str = "system",
                       n_resamples: int = 200) -> dict:
    """One metric-aspect correlation with its interval, for the scatter's caption."""
    return correlation_matrix(table, [metric], [aspect], level=level, method=method,
                              id_col=id_col, system_col=system_col,
                              n_resamples=n_resamples).iloc[0].to_dict()


# ------------------------------------------------------------------- pairwise: metric vs human

def pairwise_metric_agreement(labels: pd.DataFrame, scores: pd.DataFrame,
                              higher_is_better: dict[str, bool] | None = None,
                              n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For each metric: on the human-labeled pairs (the Label page's ``pairwise_labels``), how
    often the metric scores the human-preferred completion higher, by
    :func:`rlhf_eval.evaluation.correlation_pairwise.pairwise_agreement` (human ties left out,
    metric ties count as misses, interval resampling prompts). Pass one label per
    (annotator, pair), e.g. :func:`rlhf_eval.dashboard.labeling.latest_labels`.

    Columns: metric, agreement, ci_low, ci_high, agreement_excluding_metric_ties, n_pairs,
    n_decided, human_ties, metric_ties, agree, disagree.
    """
    from ..evaluation.correlation_pairwise import pairwise_agreement
    from ..stats import StatsError

    cols = ["metric", "agreement", "ci_low", "ci_high", "agreement_excluding_metric_ties",
            "n_pairs", "n_decided", "human_ties", "metric_ties", "agree", "disagree"]
    if labels.empty or scores.empty:
        return pd.DataFrame(columns=cols)
    values = scores.pivot_table(index="gen_id", columns="metric", values="value",
                                aggfunc="first")
    higher_is_better = higher_is_better or {}
    rows = []
    for metric in values.columns:
        va = values[metric].reindex(labels["gen_a"]).to_numpy(dtype=float)
        vb = values[metric].reindex(labels["gen_b"]).to_numpy(dtype=float)
        if not higher_is_better.get(metric, True):
            va, vb = -va, -vb
        ok = np.isfinite(va) & np.isfinite(vb)
        try:
            res = pairwise_agreement(labels["winner"].to_numpy()[ok], va[ok], vb[ok],
                                     groups=labels["sample_id"].to_numpy()[ok],
                                     n_resamples=n_resamples, seed=seed)
        except StatsError:  # every label on the scored pairs is a tie
            continue
        rows.append({"metric": str(metric), **res.as_dict()})
    return pd.DataFrame(rows, columns=cols).sort_values("agreement", ascending=False,
                                                        kind="stable").reset_index(drop=True)


def summeval_pairwise(table: pd.DataFrame, metrics: Sequence[str], aspects: Sequence[str],
                      n_resamples: int = 200) -> pd.DataFrame:
    """Pairwise agreement on SummEval, human choices derived from the expert means per aspect
    (:func:`rlhf_eval.evaluation.correlation_pairwise.agreement_table`). The file keeps only the
    mean of the 3 experts, so there is no inter-annotator ceiling for it."""
    from ..evaluation.correlation_pairwise import agreement_table

    return agreement_table(table, metrics=list(metrics), aspects=list(aspects), id_col="doc_id",
                           system_col="system", n_resamples=n_resamples)


def read_pairwise_table(path: str | Path) -> pd.DataFrame:
    """The ``pairwise_agreement`` rows of a ``correlations.json`` (empty when absent)."""
    path = Path(path)
    if path.suffix != ".json":
        sibling = path.with_suffix(".json")
        if not sibling.is_file():
            return pd.DataFrame()
        path = sibling
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    rows = data.get("pairwise_agreement") if isinstance(data, dict) else None
    return pd.DataFrame(rows or [])
