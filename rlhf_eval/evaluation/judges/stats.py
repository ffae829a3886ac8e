"""Statistics of judges: length-controlled win-rates, Bradley-Terry intervals, bias reports.

- :func:`lc_winrate`       length-controlled win-rate (AlpacaEval 2.0, Dubois et al. 2024): a
                           logistic GLM ``logit P(a beats b) = b0 + b1 * tanh(d / sd(d))`` on the
                           length difference ``d = len(a) - len(b)``; the win-rate read off at zero
                           length difference is ``sigmoid(b0)``. Ties count as half a win (a
                           fractional binomial response, as AlpacaEval does). Interval: seeded
                           bootstrap over items, refitting each resample.
- :func:`fit_logistic`     the unpenalised maximum-likelihood fit behind it (Newton/IRLS), tested
                           against statsmodels' GLM to 1e-6.
- :func:`bt_intervals`     Bradley-Terry log-strengths with bootstrap intervals (resampling
                           comparisons, or whole groups such as prompts).
- :func:`bias_report`      a judge's position-flip rate, first-position win rate, P(prefers the
                           longer answer) next to the humans', self-preference and parse-failure
                           rate, each with a bootstrap interval, plus the flags they raise.

All resampling is the stats module's (:mod:`rlhf_eval.stats`), seeded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...stats import Interval, StatsError, bootstrap_ci, bootstrap_indices, percentile_interval
from ..winrate import bradley_terry

VERDICTS = ("a", "b", "tie")
POSITIONS = ("first", "second", "tie")


# ------------------------------------------------------------------ logistic GLM (LC win-rate)


def fit_logistic(X: np.ndarray, y: np.ndarray, *, max_iter: int = 100,
                 tol: float = 1e-12) -> np.ndarray | None:
    """Unpenalised logistic regression of fractional outcomes ``y`` in [0, 1] on the design
    ``X`` (include the intercept column yourself), by Newton's method (= IRLS for the canonical
    link). Returns ``None`` when the MLE does not exist (separation: coefficients diverge) or
    the design is singular, never a huge finite number."""
    from scipy.special import expit

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = expit(X @ beta)
        w = p * (1.0 - p)
        hess = X.T @ (X * w[:, None])
        grad = X.T @ (y - p)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if not np.all(np.isfinite(beta)) or np.abs(beta).max() > 30.0:
            return None  # quasi-separation: the likelihood keeps rising as |beta| grows
        if np.abs(step).max() < tol:
            return beta
    return None


def length_feature(len_a: np.ndarray, len_b: np.ndarray, *, scale: float | None = None,
                   transform: str = "tanh") -> tuple[np.ndarray, float]:
    """AlpacaEval 2.0's length term: ``tanh(d / sd(d))`` (``transform='tanh'``, bounded so a
    few very long answers cannot dominate) or ``d / sd(d)`` ('linear'); returns the feature and
    the scale used (sample standard deviation of ``d``, ddof=1, unless given)."""
    d = np.asarray(len_a, dtype=float) - np.asarray(len_b, dtype=float)
    if scale is None:
        scale = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
    if not scale > 0:
        return np.zeros_like(d), 0.0  # no length variation: the term is constant zero
    z = d / scale
    if transform == "tanh":
        return np.tanh(z), scale
    if transform == "linear":
        return z, scale
    raise StatsError(f"transform must be 'tanh' or 'linear', found {transform!r}")


@dataclass(frozen=True)
class LCWinRate:
    lc_winrate: float       # sigmoid(b0): win-rate at zero length difference
    ci_low: float
    ci_high: float
    raw_winrate: float      # plain mean outcome (ties = 0.5) of the same items
    length_coef: float      # b1: how strongly the outcome follows the length difference
    scale: float            # sd of the length difference used to standardise it
    n: int
    n_missing: int
    n_valid_resamples: int
    transform: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def lc_winrate(outcome: Sequence[float], len_a: Sequence[float], len_b: Sequence[float], *,
               transform: str = "tanh", n_resamples: int = 200, seed: int = 0,
               confidence: float = 0.95) -> LCWinRate:
    """Length-controlled win-rate of ``a`` over ``b`` (outcomes 1/0.5/0, NaN = missing)."""
    o = np.asarray(outcome, dtype=float)
    la, lb = np.asarray(len_a, dtype=float), np.asarray(len_b, dtype=float)
    if not (o.shape == la.shape == lb.shape):
        raise StatsError(f"outcome, len_a and len_b differ in length ({o.size}, {la.size}, "
                         f"{lb.size})")
    keep = np.isfinite(o) & np.isfinite(la) & np.isfinite(lb)
    o, la, lb = o[keep], la[keep], lb[keep]
    if o.size < 3:
        raise StatsError(f"a length-controlled win-rate needs at least 3 items, found {o.size}")
    if not np.all(np.isin(o, (0.0, 0.5, 1.0))):
        raise StatsError("outcomes must be 1 (win), 0.5 (tie) or 0 (loss)")
    d = la - lb
    if (d > 0).all() or (d < 0).all():
        raise StatsError("every length difference has the same sign: the win-rate at zero "
                         "length difference would be an extrapolation, not an estimate")
    x, scale = length_feature(la, lb, transform=transform)
    X = np.column_stack([np.ones_like(x), x]) if scale > 0 else np.ones((o.size, 1))
    beta = fit_logistic(X, o)
    if beta is None:
        raise StatsError("the length-controlled GLM has no finite fit (all outcomes the same, "
                         "or outcomes perfectly separated by length)")

    def stat(idx: np.ndarray) -> float:
        b = fit_logistic(X[idx], o[idx])
        return float("nan") if b is None else float(1.0 / (1.0 + np.exp(-b[0])))

    (draws,) = bootstrap_indices([o.size], [True], n_resamples=n_resamples, seed=seed)
    boot = np.array([stat(idx) for idx in draws])
    low, high, n_valid = percentile_interval(boot, confidence)
    return LCWinRate(float(1.0 / (1.0 + np.exp(-beta[0]))), low, high, float(o.mean()),
                     float(beta[1]) if beta.size > 1 else 0.0, scale, int(o.size),
                     int((~keep).sum()), n_valid, transform)


# ------------------------------------------------------------------ Bradley-Terry intervals


def bt_intervals(comparisons: Sequence[tuple[str, str, float]], players: Sequence[str], *,
                 anchor: str, l2: float = 0.01, groups: Sequence | None = None,
                 n_resamples: int = 200, seed: int = 0, confidence: float = 0.95):
    """Bradley-Terry log-strengths (anchor = 0) with percentile bootstrap intervals: a frame
    ``player, strength, ci_low, ci_high, n_comparisons``. Comparisons are resampled with
    replacement (whole ``groups`` when given, e.g. one group per prompt)."""
    import pandas as pd

    from ...stats import resample_groups

    comps = [c for c in comparisons if c[2] == c[2]]
    if not comps:
        raise StatsError("no comparisons to fit Bradley-Terry strengths on")
    point = bradley_terry(comps, players, anchor=anchor, l2=l2)
    if groups is None:
        (draws,) = bootstrap_indices([len(comps)], [True], n_resamples=n_resamples, seed=seed)
    else:
        g = [gr for gr, c in zip(groups, comparisons) if c[2] == c[2]]
        draws = resample_groups(g, np.random.default_rng(seed), n_resamples)
    boot = np.array([[bradley_terry([comps[k] for k in idx], players, anchor=anchor,
                                    l2=l2)[p] for p in players] for idx in draws])
    counts = {p: 0 for p in players}
    for i, j, _ in comps:
        counts[i] += 1
        counts[j] += 1
    rows = []
    for k, p in enumerate(players):
        if p == anchor:
            low = high = 0.0
        elif np.isfinite(boot[:, k]).any():
            low, high, _ = percentile_interval(boot[:, k], confidence)
        else:
            low = high = float("nan")
        rows.append({"player": p, "strength": point[p], "ci_low": low, "ci_high": high,
                     "n_comparisons": counts[p]})
    return pd.DataFrame(rows).sort_values("strength", ascending=False, ignore_index=True)


# ------------------------------------------------------------------ bias report


def to_item_verdict(position: str | None, a_first: bool) -> str | None:
    """A verdict given in position terms ('first'/'second'/'tie') for one presentation order,
    as a verdict about the items ('a'/'b'/'tie'); None stays None (a parse failure)."""
    if not isinstance(position, str):   # None or a NaN that a DataFrame made of it
        return None
    if position not in POSITIONS:
        raise StatsError(f"expected a position verdict in {POSITIONS}, found {position!r}")
    if position == "tie":
        return "tie"
    return "a" if (position == "first") == a_first else "b"


def _ratio(num: np.ndarray, den: np.ndarray, *, n_resamples: int, seed: int,
           confidence: float) -> Interval | None:
    """sum(num)/sum(den) over items, with a bootstrap over items (None when den sums to 0)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if den.sum() == 0:
        return None

    def fn(idx: np.ndarray) -> float:
        d = den[idx].sum()
        return num[idx].sum() / d if d else float("nan")

    return bootstrap_ci(fn, n=len(num), n_resamples=n_resamples, seed=seed,
                        confidence=confidence)


def _longer_preference(verdict: np.ndarray, la: np.ndarray, lb: np.ndarray):
    """(is-longer-preferred, counts) per item: 1 where the decisive verdict picks the longer
    answer; items with a tie, no verdict or equal lengths do not count."""
    decisive = np.isin(verdict, ("a", "b")) & (la != lb)
    longer = np.where(la > lb, "a", "b")
    return (decisive & (verdict == longer)).astype(float), decisive.astype(float)


def bias_report(first_ab: Sequence[str | None], first_ba: Sequence[str | None],
                verdict: Sequence[str | None], len_a: Sequence[float], len_b: Sequence[float],
                *, human: Sequence[str | None] | None = None,
                system_a: Sequence[str] | None = None, system_b: Sequence[str] | None = None,
                judge_system: str | None = None, n_resamples: int = 1000, seed: int = 0,
                confidence: float = 0.95, position_threshold: float = 0.1) -> dict:
    """Bias figures of one pairwise judge over n items.

    ``first_ab[i]`` is the judge's verdict when ``a`` was shown first, ``first_ba[i]`` when
    ``b`` was shown first, both in position terms ('first'/'second'/'tie', None = the answer
    could not be parsed); ``verdict[i]`` is the judge's combined verdict about the items
    ('a'/'b'/'tie'/None). Figures (each ``{estimate, ci_low, ci_high, n}``, or None when no item
    qualifies):

    - ``parse_failure_rate``: failed order-judgments / 2n.
    - ``flip_rate``: among items with both orders parsed, the share whose item verdict changes
      with the order (a tie in one order and a decision in the other is a flip).
    - ``first_position_win_rate``: among decisive per-order verdicts, the share for the first
      position (0.5 = no position bias).
    - ``tie_rate``: share of combined verdicts that are ties (of items with a verdict).
    - ``p_prefers_longer`` (judge) and ``p_prefers_longer_human``: among items with a decisive
      verdict and unequal lengths, the share that prefers the longer answer.
    - ``self_preference``: where exactly one side was written by ``judge_system``, that side's
      win-rate under the judge (ties half), and under the humans where given.

    ``flags`` lists what the figures show: position bias when the first-position win-rate's
    interval excludes 0.5 by more than ``position_threshold`` on either side or the flip-rate's
    interval lies above ``position_threshold``; length bias when the judge's P(longer) interval
    lies above the humans' estimate (or above 0.5 with no human labels).
    """
    first_ab, first_ba = list(first_ab), list(first_ba)
    verdict = np.asarray([v if isinstance(v, str) else "" for v in verdict], dtype=object)
    n = len(first_ab)
    if not (n == len(first_ba) == len(verdict) == len(len_a) == len(len_b)):
        raise StatsError("bias_report: all per-item inputs must have the same length")
    if n == 0:
        raise StatsError("bias_report: no items")
    la, lb = np.asarray(len_a, dtype=float), np.asarray(len_b, dtype=float)
    v1 = np.array([to_item_verdict(p, True) or "" for p in first_ab], dtype=object)
    v2 = np.array([to_item_verdict(p, False) or "" for p in first_ba], dtype=object)
    ok1, ok2 = v1 != "", v2 != ""
    opts = dict(n_resamples=n_resamples, seed=seed, confidence=confidence)

    def fig(num, den) -> dict | None:
        iv = _ratio(num, den, **opts)
        if iv is None:
            return None
        return {"estimate": iv.estimate, "ci_low": iv.low, "ci_high": iv.high,
                "n": int(np.asarray(den).sum())}

    both = ok1 & ok2
    pos1 = np.array([p if isinstance(p, str) else "" for p in first_ab], dtype=object)
    pos2 = np.array([p if isinstance(p, str) else "" for p in first_ba], dtype=object)
    first_wins = (pos1 == "first").astype(float) + (pos2 == "first").astype(float)
    decisive = np.isin(pos1, ("first", "second")).astype(float) + np.isin(
        pos2, ("first", "second")).astype(float)
    has_verdict = np.isin(verdict, VERDICTS)
    longer, counted = _longer_preference(verdict, la, lb)
    out = {
        "n_items": n,
        "n_order_judgments": 2 * n,
        "parse_failures": int((~ok1).sum() + (~ok2).sum()),
        "parse_failure_rate": fig((~ok1).astype(float) + (~ok2).astype(float),
                                  np.full(n, 2.0)),
        "flip_rate": fig((both & (v1 != v2)).astype(float), both.astype(float)),
        "first_position_win_rate": fig(first_wins, decisive),
        "tie_rate": fig((verdict == "tie").astype(float), has_verdict.astype(float)),
        "p_prefers_longer": fig(longer, counted),
        "p_prefers_longer_human": None,
        "self_preference": None,
        "self_preference_human": None,
    }
    if human is not None:
        h = np.asarray([x if isinstance(x, str) else "" for x in human], dtype=object)
        if len(h) != n:
            raise StatsError("bias_report: human labels must have one entry per item")
        hl, hc = _longer_preference(h, la, lb)
        out["p_prefers_longer_human"] = fig(hl, hc)
    if judge_system is not None and system_a is not None and system_b is not None:
        sa, sb = np.asarray(system_a, dtype=object), np.asarray(system_b, dtype=object)
        own_a = (sa == judge_system) & (sb != judge_system)
        own_b = (sb == judge_system) & (sa != judge_system)

        def own_score(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            win = np.where(own_a, v == "a", v == "b").astype(float) + 0.5 * (v == "tie")
            counts = (own_a | own_b) & np.isin(v, VERDICTS)
            return win * counts, counts.astype(float)

        out["self_preference"] = fig(*own_score(verdict))
        if human is not None:
            out["self_preference_human"] = fig(*own_score(h))
    out["flags"] = bias_flags(out, position_threshold=position_threshold)
    return out


def bias_flags(report: dict, *, position_threshold: float = 0.1) -> list[str]:
    """Human-readable flags for the figures of :func:`bias_report` that show a bias."""
    flags = []
    fp = report.get("first_position_win_rate")
    if fp and (fp["ci_low"] > 0.5 + position_threshold or fp["ci_high"] < 0.5 - position_threshold):
        side = "first" if fp["estimate"] > 0.5 else "second"
        flags.append(f"position bias: prefers the {side} position "
                     f"({fp['estimate']:.2f} [{fp['ci_low']:.2f}, {fp['ci_high']:.2f}])")
    fl = report.get("flip_rate")
    if fl and fl["ci_low"] > position_threshold:
        flags.append(f"order-inconsistent: verdict flips with the order in {fl['estimate']:.2f} "
                     f"[{fl['ci_low']:.2f}, {fl['ci_high']:.2f}] of items")
    lj, lh = report.get("p_prefers_longer"), report.get("p_prefers_longer_human")
    ref = lh["estimate"] if lh else 0.5
    if lj and lj["ci_low"] > ref:
        flags.append(f"length bias: prefers the longer answer {lj['estimate']:.2f} "
                     f"[{lj['ci_low']:.2f}, {lj['ci_high']:.2f}] vs "
                     f"{'humans' if lh else 'chance'} {ref:.2f}")
    tr = report.get("tie_rate")
    if tr and tr["estimate"] > 0.5:
        flags.append(f"tie-heavy: {tr['estimate']:.2f} of verdicts are ties (the judge does "
                     "not separate the answers; its other figures say little)")
    pf = report.get("parse_failure_rate")
    if pf and pf["estimate"] > 0.05:
        flags.append(f"parse failures: {pf['estimate']:.2f} of order-judgments unparsed")
    sp, sph = report.get("self_preference"), report.get("self_preference_human")
    if sp and sp["ci_low"] > (sph["estimate"] if sph else 0.5):
        flags.append(f"self-preference: own answers win {sp['estimate']:.2f} "
                     f"[{sp['ci_low']:.2f}, {sp['ci_high']:.2f}]")
    return flags
