"""Pairwise agreement: how often does a metric prefer the output humans preferred?

For each pair of outputs of the same input with a human choice (``a``, ``b`` or ``tie``) the
metric "agrees" when it scores the human-preferred output strictly higher. Ties are never
hidden: human ties are counted and left out of the rate (there is no preferred output to
find); metric ties on a human-decided pair are counted and scored as not agreeing (the
metric failed to separate them), with the rate that leaves them out reported beside it.

Human choices come either from explicit pairwise judgments or are derived from Likert scores
(:func:`choices_from_scores`: within an input, every pair of systems, the higher mean score
wins; equal means are a tie). The interval is a seeded cluster bootstrap over inputs (pairs of
one input share outputs, so they are not independent).

The ceiling is inter-annotator agreement on the same pairs (percent agreement of annotator
pairs on a/b/tie, from :mod:`rlhf_eval.agreement`; see
:func:`rlhf_eval.evaluation.correlation_inputs.lab_choice_ceilings`): a metric cannot be
expected to agree with "the human" more often than humans agree with each other.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..stats import StatsError, bootstrap_ci

WINNERS = ("a", "b", "tie")


def _winner(a: np.ndarray, b: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    diff = a - b
    return np.where(diff > tolerance, "a", np.where(diff < -tolerance, "b", "tie"))


def choices_from_scores(table: pd.DataFrame, *, id_col: str, system_col: str,
                        score_col: str, extra_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Every pair of systems within each input: columns ``input, system_a, system_b, winner``
    (from ``score_col``; rows with a missing score are left out) plus, for each column in
    ``extra_cols``, ``<col>_a`` and ``<col>_b`` (e.g. metric scores of both outputs)."""
    for col in (id_col, system_col, score_col, *extra_cols):
        if col not in table.columns:
            raise DataError("column not found", field=col)
    parts = []
    for doc, group in table[table[score_col].notna()].groupby(id_col, sort=False):
        g = group.reset_index(drop=True)
        if len(g) < 2:
            continue
        ia, ib = np.array(list(itertools.combinations(range(len(g)), 2))).T
        part = pd.DataFrame({"input": doc, "system_a": g[system_col].to_numpy()[ia],
                             "system_b": g[system_col].to_numpy()[ib]})
        sa, sb = g[score_col].to_numpy(float)[ia], g[score_col].to_numpy(float)[ib]
        part["winner"] = _winner(sa, sb)
        for col in extra_cols:
            part[f"{col}_a"] = g[col].to_numpy()[ia]
            part[f"{col}_b"] = g[col].to_numpy()[ib]
        parts.append(part)
    if not parts:
        raise DataError(f"no input has two outputs with a {score_col!r} score", field=score_col)
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class PairwiseAgreement:
    agreement: float             # agree / human-decided pairs (metric ties count as misses)
    ci_low: float
    ci_high: float
    agreement_excluding_metric_ties: float | None  # agree / (agree + disagree)
    n_pairs: int
    n_decided: int               # pairs where the human chose a or b
    human_ties: int
    metric_ties: int             # among human-decided pairs
    agree: int
    disagree: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def pairwise_agreement(winner: Sequence[str], score_a: Sequence[float], score_b: Sequence[float],
                       *, groups: Sequence | None = None, tolerance: float = 0.0,
                       n_resamples: int = 1000, seed: int = 0,
                       confidence: float = 0.95) -> PairwiseAgreement:
    """Agreement of a metric's preferences (``score_a`` vs ``score_b``, higher is better; a
    difference within ``tolerance`` is a metric tie) with human ``winner`` labels; the interval
    resamples ``groups`` (e.g. input ids) when given, else pairs."""
    winner = np.asarray(winner, dtype=object)
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    if not (len(winner) == len(a) == len(b)):
        raise DataError(f"expected as many scores as choices, found {len(winner)} choices, "
                        f"{len(a)} and {len(b)} scores", field="score_a")
    bad = [w for w in winner if w not in WINNERS]
    if bad:
        raise DataError(f"expected winners in {WINNERS}, found {bad[0]!r}", field="winner")
    missing = ~(np.isfinite(a) & np.isfinite(b))
    if missing.any():
        raise DataError(f"{int(missing.sum())} pair(s) have a missing metric score; drop them "
                        "first (they would otherwise count as metric ties)", field="score_a")
    metric = _winner(a, b, tolerance)
    decided = winner != "tie"
    agree = decided & (metric == winner)
    m_tie = decided & (metric == "tie")
    n_decided = int(decided.sum())
    if n_decided == 0:
        raise StatsError(f"all {len(winner)} human choices are ties: no preferred output to "
                         "agree with")
    group_ids = np.asarray(groups) if groups is not None else np.arange(len(winner))
    _, inv = np.unique(group_ids, return_inverse=True)
    g_agree = np.bincount(inv, weights=agree.astype(float))
    g_decided = np.bincount(inv, weights=decided.astype(float))

    def rate(idx: np.ndarray) -> np.ndarray:  # (B, groups) index rows -> (B,) rates
        d = g_decided[idx].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, g_agree[idx].sum(axis=-1) / d, np.nan)

    ci = bootstrap_ci(rate, n=len(g_agree), n_resamples=n_resamples, seed=seed,
                      confidence=confidence, vectorized=True)
    n_agree, n_ties = int(agree.sum()), int(m_tie.sum())
    n_disagree = n_decided - n_agree - n_ties
    excl = n_agree / (n_agree + n_disagree) if n_agree + n_disagree else None
    return PairwiseAgreement(ci.estimate, ci.low, ci.high, excl, len(winner), n_decided,
                             int((~decided).sum()), n_ties, n_agree, n_disagree)


def agreement_table(table: pd.DataFrame, *, metrics: Sequence[str], aspects: Sequence[str],
                    id_col: str, system_col: str, n_resamples: int = 1000, seed: int = 0,
                    confidence: float = 0.95,
                    ceilings: dict[str, tuple[float, int]] | None = None) -> pd.DataFrame:
    """Pairwise agreement of every metric with human choices derived from each aspect's
    scores, as a tidy table; ``ceilings[aspect] = (inter-annotator agreement, items)`` adds a
    row ``metric='(inter-annotator)'`` where known."""
    rows = []
    for aspect in aspects:
        pairs = choices_from_scores(table, id_col=id_col, system_col=system_col,
                                    score_col=aspect, extra_cols=metrics)
        for metric in metrics:
            keep = pairs[f"{metric}_a"].notna() & pairs[f"{metric}_b"].notna()
            p = pairs[keep]
            res = pairwise_agreement(p["winner"], p[f"{metric}_a"].astype(float),
                                     p[f"{metric}_b"].astype(float), groups=p["input"],
                                     n_resamples=n_resamples, seed=seed, confidence=confidence)
            rows.append({"metric": metric, "aspect": aspect, **res.as_dict(),
                         "n_missing_scores": int((~keep).sum())})
        if ceilings and aspect in ceilings:
            value, n_items = ceilings[aspect]
            rows.append({"metric": "(inter-annotator)", "aspect": aspect, "agreement": value,
                         "n_pairs": n_items})
    return pd.DataFrame(rows)


def choices_agreement_table(table: pd.DataFrame, choices: Sequence, *, metrics: Sequence[str],
                            sample_id_col: str, id_col: str | None = None,
                            source: str = "<choices>", n_resamples: int = 1000, seed: int = 0,
                            confidence: float = 0.95) -> pd.DataFrame:
    """Pairwise agreement of each metric with explicit human choices
    (:class:`~rlhf_eval.schema.PairwiseChoice` records whose ``sample_a``/``sample_b`` are ids
    in ``table[sample_id_col]``), aspect ``"choice"``. Every judgment counts (two annotators on
    one pair are two choices); the interval resamples inputs (``id_col``) when given, else
    output pairs. Where some pair was judged by two or more annotators, their percent agreement
    (:func:`rlhf_eval.agreement.agreement_table`) is added as the ``(inter-annotator)`` row.
    A choice naming an id not in the table is a DataError with the record's position."""
    if sample_id_col not in table.columns:
        raise DataError("column not found", field=sample_id_col)
    ids = table[sample_id_col].astype(str)
    dup = ids.duplicated()
    if dup.any():
        raise DataError(f"sample id {ids[dup].iloc[0]!r} appears twice in the table",
                        line=int(np.flatnonzero(dup.to_numpy())[0]) + 1, field=sample_id_col)
    position = {sid: k for k, sid in enumerate(ids)}
    ia, ib = [], []
    for n, c in enumerate(choices):
        for name, sid in (("sample_a", c.sample_a), ("sample_b", c.sample_b)):
            if sid not in position:
                raise DataError(f"no sample {sid!r} in the table (column {sample_id_col!r})",
                                path=source, line=n + 1, field=name)
        ia.append(position[c.sample_a])
        ib.append(position[c.sample_b])
    if not ia:
        raise DataError("no pairwise choices", path=source)
    ia, ib = np.asarray(ia), np.asarray(ib)
    winner = [c.winner for c in choices]
    groups = table[id_col].astype(str).to_numpy()[ia] if id_col else None
    rows = []
    for metric in metrics:
        sa = table[metric].to_numpy(dtype=float)[ia]
        sb = table[metric].to_numpy(dtype=float)[ib]
        keep = np.isfinite(sa) & np.isfinite(sb)
        res = pairwise_agreement(np.asarray(winner, dtype=object)[keep], sa[keep], sb[keep],
                                 groups=None if groups is None else groups[keep],
                                 n_resamples=n_resamples, seed=seed, confidence=confidence)
        rows.append({"metric": metric, "aspect": "choice", **res.as_dict(),
                     "n_missing_scores": int((~keep).sum())})
    from ..agreement import agreement_table as iaa_table

    iaa = iaa_table(list(choices), level="nominal")
    if len(iaa) and np.isfinite(iaa["percent_agreement"].iloc[0]):
        rows.append({"metric": "(inter-annotator)", "aspect": "choice",
                     "agreement": float(iaa["percent_agreement"].iloc[0]),
                     "n_pairs": int(iaa["n_items"].iloc[0])})
    return pd.DataFrame(rows)
