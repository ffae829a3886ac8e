"""Win-rates of checkpoints against a baseline, and Bradley-Terry strengths across checkpoints.

A *judge* turns two completions of the same prompt into an outcome for the first one:
1 (win), 0.5 (tie) or 0 (loss). Judges here are per-sample scores (the reward model, gold
reward, any metric; ``higher_is_better`` respected) or human pairwise labels. Samples where
either score is missing (NaN) are left out, and counted, never scored as a loss.

- :func:`outcomes`        per-sample outcomes of scores ``a`` vs ``b``
- :func:`win_rate`        win-rate with ties as half a win or excluded, and a seeded percentile
                          bootstrap CI over samples (``rlhf_eval.stats.bootstrap_ci``)
- :func:`bradley_terry`   MLE strengths from pairwise outcomes (Bradley & Terry 1952), anchored
                          so that the baseline is 0; a tie counts as half a win for each side
                          (the usual convention, e.g. Chatbot Arena's)
- :func:`winrate_rows`    every checkpoint x baseline x judge of a scores frame, as store rows
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import RlhfEvalError
from ..stats import bootstrap_ci

TIE_POLICIES = ("half", "exclude")


class WinRateError(RlhfEvalError, ValueError):
    """Options or inputs a win-rate cannot be computed from."""


@dataclass(frozen=True)
class WinRate:
    winrate: float          # NaN when no comparable sample is left
    ci_low: float
    ci_high: float
    n: int                  # samples used (ties included for 'half', excluded for 'exclude')
    wins: int
    ties: int
    losses: int
    n_missing: int          # samples where either side has no score
    tie_policy: str

    def as_row(self) -> dict:
        return {"winrate": self.winrate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n": self.n, "wins": self.wins, "ties": self.ties, "losses": self.losses,
                "tie_policy": self.tie_policy}


def outcomes(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True,
             tol: float = 0.0) -> np.ndarray:
    """Per-sample outcome of ``a`` against ``b``: 1, 0.5 (|a-b| <= tol) or 0; NaN where
    either is missing."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise WinRateError(f"scores to compare have different shapes {a.shape} vs {b.shape}")
    diff = a - b if higher_is_better else b - a
    out = np.where(diff > tol, 1.0, np.where(diff < -tol, 0.0, 0.5))
    out[np.isnan(diff)] = np.nan
    return out


def win_rate(outcome: Sequence[float], *, tie_policy: str = "half", confidence: float = 0.95,
             n_resamples: int = 1000, seed: int = 0) -> WinRate:
    """Win-rate of per-sample ``outcome`` values (1/0.5/0, NaN = missing) with a seeded
    percentile bootstrap interval over samples."""
    if tie_policy not in TIE_POLICIES:
        raise WinRateError(f"tie_policy must be one of {TIE_POLICIES}, found {tie_policy!r}")
    o = np.asarray(outcome, dtype=float)
    missing = int(np.isnan(o).sum())
    o = o[~np.isnan(o)]
    wins, ties, losses = int((o == 1).sum()), int((o == 0.5).sum()), int((o == 0).sum())
    if tie_policy == "exclude":
        o = o[o != 0.5]
    nan = float("nan")
    if o.size == 0:
        return WinRate(nan, nan, nan, 0, wins, ties, losses, missing, tie_policy)
    ci = bootstrap_ci(o, n_resamples=n_resamples, seed=seed, confidence=confidence)
    return WinRate(ci.estimate, ci.low, ci.high, int(o.size), wins, ties, losses, missing,
                   tie_policy)


# ------------------------------------------------------------------------------ Bradley-Terry


def _bt_counts(comparisons: Iterable[tuple[str, str, float]], players: Sequence[str]):
    index = {p: k for k, p in enumerate(players)}
    k = len(players)
    wins = np.zeros((k, k))      # wins[i, j]: (fractional) wins of i over j
    for i, j, o in comparisons:
        if o != o:  # NaN: no outcome
            continue
        if i not in index or j not in index:
            raise WinRateError(f"comparison of unknown player {i!r} or {j!r}")
        wins[index[i], index[j]] += o
        wins[index[j], index[i]] += 1.0 - o
    return wins


def bradley_terry(comparisons: Iterable[tuple[str, str, float]], players: Sequence[str], *,
                  anchor: str, l2: float = 0.0) -> dict[str, float]:
    """Maximum-likelihood Bradley-Terry log-strengths, P(i beats j) = sigmoid(s_i - s_j).

    ``comparisons`` are ``(i, j, outcome of i)`` with outcome 1, 0.5 or 0 (NaN skipped).
    The anchor's strength is fixed at 0. Under perfect separation (a player that never
    loses or never wins) the MLE is infinite: pass a small ``l2`` penalty (a Gaussian prior on
    the strengths) to keep it finite, or read +-inf as "all wins/losses". Players with no
    comparison get NaN.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    players = list(players)
    if anchor not in players:
        raise WinRateError(f"anchor {anchor!r} is not among the players {players}")
    w = _bt_counts(comparisons, players)
    n = w + w.T
    k = len(players)
    a = players.index(anchor)
    free = [p for p in range(k) if p != a]

    def full(x: np.ndarray) -> np.ndarray:
        s = np.zeros(k)
        s[free] = x
        return s

    def nll(x: np.ndarray):
        s = full(x)
        d = s[:, None] - s[None, :]          # (k, k): s_i - s_j
        ll = (w * log_expit(d)).sum()
        grad = (w - n * expit(d)).sum(axis=1)  # d ll / d s_i
        return -ll + 0.5 * l2 * (x @ x), -grad[free] + l2 * x

    res = minimize(nll, np.zeros(len(free)), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-15})
    s = full(res.x)
    out = {p: float(s[idx]) for idx, p in enumerate(players)}
    for idx, p in enumerate(players):
        if n[idx].sum() == 0 and p != anchor:
            out[p] = float("nan")
    return out


# ------------------------------------------------------------------------------ from a store


def _wide(scores, judge: str):
    """(checkpoint x sample_id) table of one score."""
    sub = scores.loc[scores["metric"] == judge, ["sample_id", "checkpoint", "value"]]
    # pivot (not pivot_table): several times faster, and NaN scores stay NaN
    return sub.drop_duplicates(["sample_id", "checkpoint"]).pivot(
        index="sample_id", columns="checkpoint", values="value")


def baseline_pairs(checkpoints: Sequence[tuple[str, int]], baseline: str,
                   baseline_name: str) -> list[tuple[str, str]]:
    """(checkpoint, compared-to) pairs for ``baseline`` 'sft' (the baseline model),
    'references' or 'previous' (each checkpoint vs the one before it by step)."""
    ordered = [c for c, _ in sorted(checkpoints, key=lambda cs: cs[1])]
    if baseline == "previous":
        chain = [baseline_name] + [c for c in ordered if c != baseline_name]
        return list(zip(chain[1:], chain[:-1]))
    target = {"sft": baseline_name, "references": "references"}.get(baseline)
    if target is None:
        raise WinRateError(f"baseline must be 'sft', 'references' or 'previous', found "
                           f"{baseline!r}")
    return [(c, target) for c in ordered if c != baseline_name]


def winrate_rows(scores, *, run: str, judges: Mapping[str, bool], pairs: Sequence[tuple[str, str]],
                 tie_policy: str = "half", confidence: float = 0.95,
                 n_resamples: int = 1000, seed: int = 0, tol: float = 0.0) -> list[dict]:
    """Store rows for every (checkpoint, compared-to) pair and judge (name -> higher is
    better) found in ``scores`` (a :meth:`ResultsStore.scores_frame`). Pairs whose sides have
    no score under a judge are skipped (e.g. a reference-based metric on the references)."""
    rows = []
    for judge, hib in judges.items():
        wide = _wide(scores, judge)
        for ck, other in pairs:
            if ck not in wide.columns or other not in wide.columns:
                continue
            o = outcomes(wide[ck].to_numpy(), wide[other].to_numpy(), higher_is_better=hib,
                         tol=tol)
            if np.isnan(o).all():
                continue
            wr = win_rate(o, tie_policy=tie_policy, confidence=confidence,
                          n_resamples=n_resamples, seed=seed)
            sig = (f"judge:{judge}|hib:{int(hib)}|tol:{tol}|ties:{tie_policy}|"
                   f"boot:{n_resamples}|conf:{confidence}|seed:{seed}")
            rows.append({"run": run, "checkpoint": ck, "baseline": other, "judge": judge,
                         **wr.as_row(), "signature": sig})
    return rows


def strengths_for_judge(scores, judge: str, *, higher_is_better: bool, anchor: str,
                        l2: float = 0.01, tol: float = 0.0) -> dict[str, float]:
    """Bradley-Terry strengths of every checkpoint (and the references when scored) from all
    pairwise per-sample comparisons under one judge; ``anchor`` (the baseline) is 0."""
    wide = _wide(scores, judge)
    players = list(wide.columns)
    if anchor not in players or len(players) < 2:
        return {}
    comps = []
    for x in range(len(players)):
        for y in range(x + 1, len(players)):
            o = outcomes(wide[players[x]].to_numpy(), wide[players[y]].to_numpy(),
                         higher_is_better=higher_is_better, tol=tol)
            comps.extend((players[x], players[y], v) for v in o if v == v)
    return bradley_terry(comps, players, anchor=anchor, l2=l2)


def human_winrate_rows(labels, generations, *, run: str, pairs: Sequence[tuple[str, str]],
                       tie_policy: str = "half", confidence: float = 0.95,
                       n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Win-rates from human pairwise labels (``store.pairwise_labels()``) between the
    generations of two checkpoints; one outcome per label."""
    if labels is None or len(labels) == 0:
        return []
    ck_of = dict(zip(generations["gen_id"], generations["checkpoint"]))
    rows = []
    for ck, other in pairs:
        o = []
        for a, b, winner in zip(labels["gen_a"], labels["gen_b"], labels["winner"]):
            side = {(ck_of.get(a), ck_of.get(b))}
            score = {"a": 1.0, "b": 0.0, "tie": 0.5}[winner]
            if (ck, other) in side:
                o.append(score)
            elif (other, ck) in side:
                o.append(1.0 - score)
        if not o:
            continue
        wr = win_rate(o, tie_policy=tie_policy, confidence=confidence,
                      n_resamples=n_resamples, seed=seed)
        rows.append({"run": run, "checkpoint": ck, "baseline": other, "judge": "human",
                     **wr.as_row(), "signature": f"judge:human|ties:{tie_policy}|"
                     f"boot:{n_resamples}|conf:{confidence}|seed:{seed}"})
    return rows
