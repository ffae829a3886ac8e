"""Win-rates of a run's checkpoints from every judge: stored scores, human labels, LLM judges.

For each (checkpoint, compared-to) pair on the prompts both generated for:

- win-rate with a seeded bootstrap interval over prompts (ties half or excluded,
  :func:`rlhf_eval.evaluation.winrate.win_rate`; the same prompts on both sides make it paired);
- the length-controlled win-rate (:func:`judges.stats.lc_winrate`; lengths in characters);
- Bradley-Terry strengths of all checkpoints with intervals (:func:`judges.stats.bt_intervals`,
  resampling prompts).

An LLM judge sees each pair in both orders (:class:`judges.llm.PairwiseJudge`), its answers
cached in the run's store; identical completions are a tie without asking the model.
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...stats import StatsError
from ..winrate import outcomes, win_rate
from .stats import bt_intervals, lc_winrate

log = logging.getLogger(__name__)

LOWER_IS_BETTER = frozenset({"kl", "repetition"})


def paired_generations(gens: pd.DataFrame, checkpoint: str, other: str) -> pd.DataFrame:
    """``sample_id, prompt, x, y`` (completions of ``checkpoint`` and ``other``) on the
    prompts both have, in sample-id order."""
    a = gens.loc[gens["checkpoint"] == checkpoint,
                 ["sample_id", "prompt", "completion", "gen_id"]]
    b = gens.loc[gens["checkpoint"] == other, ["sample_id", "completion", "gen_id"]]
    m = a.drop_duplicates("sample_id").merge(b.drop_duplicates("sample_id"), on="sample_id",
                                             suffixes=("_x", "_y"))
    return m.rename(columns={"completion_x": "x", "completion_y": "y"}).sort_values(
        "sample_id", ignore_index=True)


def _row(run, ck, other, judge, o, lx, ly, signature, *, tie_policy, confidence, n_resamples,
         seed) -> dict:
    wr = win_rate(o, tie_policy=tie_policy, confidence=confidence, n_resamples=n_resamples,
                  seed=seed)
    row = {"run": run, "checkpoint": ck, "baseline": other, "judge": judge, **wr.as_row(),
           "signature": signature}
    try:
        lc = lc_winrate(o, lx, ly, n_resamples=min(n_resamples, 200), seed=seed,
                        confidence=confidence)
        row.update(lc_winrate=lc.lc_winrate, lc_ci_low=lc.ci_low, lc_ci_high=lc.ci_high,
                   length_coef=lc.length_coef)
    except StatsError as exc:   # e.g. every outcome the same: no finite GLM fit
        row.update(lc_winrate=float("nan"), lc_ci_low=float("nan"), lc_ci_high=float("nan"),
                   length_coef=float("nan"), lc_note=str(exc))
    return row


def score_winrates(scores: pd.DataFrame, gens: pd.DataFrame, *, run: str,
                   judges: Mapping[str, bool], pairs: Sequence[tuple[str, str]],
                   tie_policy: str = "half", confidence: float = 0.95, n_resamples: int = 1000,
                   seed: int = 0) -> list[dict]:
    """Win-rate and LC win-rate rows for stored per-sample scores (judge -> higher is better)."""
    rows = []
    for judge, hib in judges.items():
        sub = scores[scores["metric"] == judge]
        wide = sub.drop_duplicates(["sample_id", "checkpoint"]).pivot(
            index="sample_id", columns="checkpoint", values="value")
        for ck, other in pairs:
            if ck not in wide.columns or other not in wide.columns:
                continue
            pg = paired_generations(gens, ck, other).set_index("sample_id")
            ids = [s for s in wide.index if s in pg.index]
            if not ids:
                continue
            o = outcomes(wide.loc[ids, ck].to_numpy(), wide.loc[ids, other].to_numpy(),
                         higher_is_better=hib)
            if np.isnan(o).all():
                continue
            rows.append(_row(run, ck, other, judge, o, pg.loc[ids, "x"].str.len().to_numpy(),
                             pg.loc[ids, "y"].str.len().to_numpy(),
                             f"judge:{judge}|hib:{int(hib)}|ties:{tie_policy}|boot:{n_resamples}"
                             f"|conf:{confidence}|seed:{seed}", tie_policy=tie_policy,
                             confidence=confidence, n_resamples=n_resamples, seed=seed))
    return rows


def llm_winrates(judge, gens: pd.DataFrame, *, run: str, pairs: Sequence[tuple[str, str]],
                 store=None, tie_policy: str = "half", confidence: float = 0.95,
                 n_resamples: int = 1000, seed: int = 0) -> tuple[list[dict], dict]:
    """Win-rate rows of an LLM judge, and ``{(checkpoint, other): sample_id, outcome}``."""
    from .llm import PairItem

    rows, frames = [], {}
    for ck, other in pairs:
        pg = paired_generations(gens, ck, other)
        if pg.empty:
            continue
        same = (pg["x"] == pg["y"]).to_numpy()
        items = [PairItem(f"{run}|{ck}|{other}|{r.sample_id}", r.prompt, r.x, r.y,
                          r.gen_id_x, r.gen_id_y)
                 for r, s in zip(pg.itertuples(), same) if not s]
        frame = judge.judge(items, store=store) if items else pd.DataFrame(
            columns=["item_id", "outcome", "len_a", "len_b"])
        o = np.full(len(pg), 0.5)            # identical completions: a tie, no model call
        o[~same] = frame["outcome"].to_numpy(dtype=float)
        frames[(ck, other)] = pd.DataFrame({"sample_id": pg["sample_id"], "outcome": o})
        rows.append(_row(run, ck, other, judge.name, o, pg["x"].str.len().to_numpy(),
                         pg["y"].str.len().to_numpy(),
                         f"{judge.signature}|ties:{tie_policy}|boot:{n_resamples}|"
                         f"conf:{confidence}|seed:{seed}", tie_policy=tie_policy,
                         confidence=confidence, n_resamples=n_resamples, seed=seed))
        rows[-1]["n_identical"] = int(same.sum())
    return rows, frames


def score_strengths(scores: pd.DataFrame, judge: str, *, higher_is_better: bool, anchor: str,
                    l2: float = 0.01, n_resamples: int = 200, seed: int = 0,
                    confidence: float = 0.95) -> pd.DataFrame | None:
    """Bradley-Terry strengths (anchor = 0) of every checkpoint from all pairwise per-prompt
    comparisons under one score, with intervals resampling prompts."""
    sub = scores[scores["metric"] == judge]
    wide = sub.drop_duplicates(["sample_id", "checkpoint"]).pivot(
        index="sample_id", columns="checkpoint", values="value")
    players = list(wide.columns)
    if anchor not in players or len(players) < 2:
        return None
    comps, groups = [], []
    for x in range(len(players)):
        for y in range(x + 1, len(players)):
            o = outcomes(wide[players[x]].to_numpy(), wide[players[y]].to_numpy(),
                         higher_is_better=higher_is_better)
            for sid, v in zip(wide.index, o):
                if v == v:
                    comps.append((players[x], players[y], float(v)))
                    groups.append(sid)
    if not comps:
        return None
    return bt_intervals(comps, players, anchor=anchor, l2=l2, groups=groups,
                        n_resamples=n_resamples, seed=seed, confidence=confidence)


def judge_strengths(frames: Mapping[tuple[str, str], pd.DataFrame], *, anchor: str,
                    l2: float = 0.01, n_resamples: int = 200, seed: int = 0,
                    confidence: float = 0.95) -> pd.DataFrame | None:
    """Bradley-Terry strengths with intervals from an LLM judge's outcomes
    (:func:`llm_winrates` frames), resampling prompts."""
    comps, groups, players = [], [], {anchor}
    for (ck, other), f in frames.items():
        players |= {ck, other}
        for sid, o in zip(f["sample_id"], f["outcome"]):
            if o == o:
                comps.append((ck, other, float(o)))
                groups.append(sid)
    if not comps:
        return None
    return bt_intervals(comps, sorted(players), anchor=anchor, l2=l2, groups=groups,
                        n_resamples=n_resamples, seed=seed, confidence=confidence)
