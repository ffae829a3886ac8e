"""How well does an automatic metric agree with human judgment? Correlations at three levels,
with seeded bootstrap intervals and tests that compare two metrics on the same data.

Scores live on an *inputs x systems* grid (one cell = one output of one system for one input,
NaN where missing). For a metric X and a human aspect Z (Deutsch et al. 2021, sec. 2):

- **summary level** (a.k.a. input level): for each input, correlate X and Z across the systems;
  inputs where either vector is constant (or has fewer than ``MIN_POINTS`` cells) are skipped
  and counted; the result is the mean over the inputs used.
- **system level**: average each system's scores over the inputs, then correlate the per-system
  means; fewer than ``MIN_POINTS`` systems is an error.
- **sample level**: pool all cells and correlate once.

Methods: Pearson, Spearman (average ranks for ties) and Kendall tau-b, the variants SummEval
(Fabbri et al. 2021) and BARTScore (Yuan et al. 2021) report. The vectorised implementations
are tested against :mod:`scipy.stats`.

Intervals: percentile bootstrap resampling inputs, systems, or both (BOOT-INPUTS / -SYSTEMS /
-BOTH, Deutsch et al. 2021; "both" is the one they recommend, because it accounts for a new
sample of inputs *and* of systems). Comparing metric A with B on the same data:
paired bootstrap p-value (same resamples for both), the PERM-BOTH permutation test of Deutsch
et al. (2021, sec. 5), and at the system level Williams' test for dependent correlations
(Williams 1959; Graham & Baldwin 2014), which accounts for A and B being correlated.

Speed: a resample is described by how often each input and system was drawn, and every level
is computed from those multiplicities (:func:`bootstrap_correlations`) instead of on a
materialised resampled grid (:func:`bootstrap_level`, kept as the reference: the tests hold the
two equal to 1e-12 on the same draws). ``benchmarks/bench_correlate.py`` measures the gain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import DataError
from ..stats import StatsError, bootstrap_indices, index_counts, paired_bootstrap_pvalue, \
    percentile_interval, permutation_pvalue

LEVELS = ("summary", "system", "sample")
METHODS = ("pearson", "spearman", "kendall")
RESAMPLE = {"inputs": (True, False), "systems": (False, True), "both": (True, True)}
# Fewer points than this and a correlation says nothing (two points always give +-1).
MIN_POINTS = 3
# Pairwise Kendall is O(n^2) memory; above this many points per vector use scipy's O(n log n).
_PAIRWISE_KENDALL_MAX = 64
# Bootstrap resamples processed at once (bounds memory: chunk x inputs x pairs floats).
_CHUNK = 100


# --------------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class ScoreGrid:
    """Score columns on an inputs x systems grid; ``columns[name]`` has shape (R, S), NaN where
    the cell has no score."""

    inputs: tuple[str, ...]
    systems: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    source: str = "<table>"

    def __post_init__(self):
        shape = (len(self.inputs), len(self.systems))
        for name, values in self.columns.items():
            if np.shape(values) != shape:
                raise DataError(f"expected shape {shape} (inputs x systems), found "
                                f"{np.shape(values)}", path=self.source, field=name)

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            import difflib
            close = difflib.get_close_matches(name, list(self.columns), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"no score column {name!r}{hint}; available: "
                            f"{', '.join(sorted(self.columns))}", path=self.source, field=name)
        return self.columns[name]


def grid_from_table(table: pd.DataFrame, *, id_col: str, system_col: str,
                    value_cols: Iterable[str], source: str = "<table>") -> ScoreGrid:
    """Pivot a tidy table (one row per input x system) into a :class:`ScoreGrid`.

    Errors name the line (the row's line in the file for tables from
    :func:`~rlhf_eval.evaluation.correlation_inputs.read_table`, else the 1-based row) and the
    column:
    a missing column, a duplicated (input, system) pair, or a non-numeric score. Missing
    scores (NaN/None) are allowed: they become empty cells, reported as exclusions later.
    """
    value_cols = list(value_cols)
    # read_table records where data rows start in the file (2 in a CSV with a header)
    first = int(table.attrs.get("first_line", 1))
    for col in [id_col, system_col, *value_cols]:
        if col not in table.columns:
            raise DataError(f"column not found; the table has {', '.join(map(str, table.columns))}",
                            path=source, field=col)
    keys = table[[id_col, system_col]].astype(str)
    dup = keys.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())[:2]
        raise DataError(f"input {keys.iloc[rows[0], 0]!r} x system {keys.iloc[rows[0], 1]!r} "
                        f"appears more than once (lines {rows[0] + first} and "
                        f"{rows[1] + first}); average repeated judgments before correlating",
                        path=source, line=int(rows[1]) + first, field=system_col)
    inputs = tuple(dict.fromkeys(keys[id_col]))
    systems = tuple(sorted(set(keys[system_col])))
    r_idx = pd.Index(inputs).get_indexer(keys[id_col])
    s_idx = pd.Index(systems).get_indexer(keys[system_col])
    columns = {}
    for col in value_cols:
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(values) & table[col].notna().to_numpy())
        if bad.size:
            raise DataError(f"expected a number, found {table[col].iloc[bad[0]]!r}",
                            path=source, line=int(bad[0]) + first, field=col)
        if np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0])
            raise DataError(f"expected a finite number, found {values[row]}", path=source,
                            line=row + first, field=col)
        grid = np.full((len(inputs), len(systems)), np.nan)
        grid[r_idx, s_idx] = values
        columns[col] = grid
    return ScoreGrid(inputs, systems, columns, source)


# ------------------------------------------------------------------- batched correlation core


def _spread_is_rounding(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """hi == lo, or they differ only by rounding (a few ulps): e.g. two per-system means that
    are equal but were summed in another order. Such a vector is constant, and a correlation
    on it would be noise from the last bits."""
    with np.errstate(invalid="ignore"):
        return (hi - lo) <= 8 * np.finfo(float).eps * np.maximum(np.abs(hi), np.abs(lo))


def _constant(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    hi = np.where(valid, x, -np.inf).max(axis=-1)
    lo = np.where(valid, x, np.inf).min(axis=-1)
    return _spread_is_rounding(hi, lo)


def _pearson(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    cnt = valid.sum(axis=-1)
    safe = np.maximum(cnt, 1)
    mx = np.where(valid, x, 0.0).sum(axis=-1) / safe
    my = np.where(valid, y, 0.0).sum(axis=-1) / safe
    dx = np.where(valid, x - mx[..., None], 0.0)
    dy = np.where(valid, y - my[..., None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dx * dy).sum(axis=-1) / np.sqrt((dx * dx).sum(axis=-1) * (dy * dy).sum(axis=-1))
    return np.clip(r, -1.0, 1.0)


def _ranks(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return sps.rankdata(np.where(valid, x, np.nan), axis=-1, nan_policy="omit")


def _kendall_pairwise(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    # tau-b = sum sx*sy / sqrt(sum sx^2 * sum sy^2) over pairs i<j, sx = sign(x_i - x_j):
    # the numerator is concordant - discordant; sum sx^2 counts pairs untied in x (ties in y
    # only included), which is exactly tau-b's denominator. Pairs with a missing cell get
    # sign 0 in both and so drop out of all three sums.
    i, j = np.triu_indices(x.shape[-1], k=1)
    both = valid[..., i] & valid[..., j]
    xf, yf = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    sx = np.where(both, np.sign(xf[..., i] - xf[..., j]), 0.0)
    sy = np.where(both, np.sign(yf[..., i] - yf[..., j]), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum(axis=-1) / np.sqrt((sx * sx).sum(axis=-1) * (sy * sy).sum(axis=-1))


def _kendall_loop(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    lead = x.shape[:-1]
    xs, ys, vs = (a.reshape(-1, a.shape[-1]) for a in (x, y, valid))
    out = np.empty(xs.shape[0])
    for k in range(xs.shape[0]):
        m = vs[k]
        out[k] = sps.kendalltau(xs[k, m], ys[k, m], variant="b").statistic
    return out.reshape(lead)


def batched_correlation(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None, *,
                        method: str, min_points: int = MIN_POINTS) -> np.ndarray:
    """Correlation along the last axis of ``x`` and ``y`` (any leading shape), using only cells
    where ``valid``; NaN where fewer than ``min_points`` cells are valid or either vector is
    constant over them (the statistic is undefined there, and callers count such cases)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if valid is None:
        valid = np.isfinite(x) & np.isfinite(y)
    if method == "pearson":
        r = _pearson(x, y, valid)
    elif method == "spearman":
        r = _pearson(_ranks(x, valid), _ranks(y, valid), valid)
    elif method == "kendall":
        if x.shape[-1] <= _PAIRWISE_KENDALL_MAX:
            r = _kendall_pairwise(x, y, valid)
        else:
            r = _kendall_loop(x, y, valid)
    else:
        raise StatsError(f"unknown correlation method {method!r}; expected one of {METHODS}")
    undefined = (valid.sum(axis=-1) < min_points) | _constant(x, valid) | _constant(y, valid)
    return np.where(undefined, np.nan, r)


@dataclass(frozen=True)
class LevelValues:
    """Correlation values for a batch of (resampled) grids: ``value[b]`` is NaN where
    undefined; ``n[b]`` units used and ``n_skipped[b]`` units skipped (inputs at the summary
    level, systems at the system level, cells at the sample level)."""

    value: np.ndarray
    n: np.ndarray
    n_skipped: np.ndarray


def level_correlation(x: np.ndarray, y: np.ndarray, *, level: str, method: str) -> LevelValues:
    """The correlation of grids ``x`` and ``y`` of shape (B, R, S) (a batch of B grids) at one
    level. Cells where either score is NaN are excluded (and counted at the sample level)."""
    valid = np.isfinite(x) & np.isfinite(y)
    if level == "summary":
        per_input = batched_correlation(x, y, valid, method=method)  # (B, R)
        used = np.isfinite(per_input)
        n = used.sum(axis=-1)
        with np.errstate(invalid="ignore"):
            value = np.where(n > 0, np.where(used, per_input, 0.0).sum(axis=-1)
                             / np.maximum(n, 1), np.nan)
        return LevelValues(value, n, x.shape[1] - n)
    if level == "system":
        cnt = valid.sum(axis=1)  # (B, S) cells per system
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = np.where(valid, x, 0.0).sum(axis=1) / cnt
            my = np.where(valid, y, 0.0).sum(axis=1) / cnt
        has = cnt > 0
        value = batched_correlation(mx, my, has, method=method)
        n = has.sum(axis=-1)
        return LevelValues(value, n, x.shape[2] - n)
    if level == "sample":
        b = x.shape[0]
        flat_x, flat_y, flat_v = (a.reshape(b, -1) for a in (x, y, valid))
        value = batched_correlation(flat_x, flat_y, flat_v, method=method)
        n = flat_v.sum(axis=-1)
        return LevelValues(value, n, flat_v.shape[-1] - n)
    raise StatsError(f"unknown level {level!r}; expected one of {LEVELS}")


# ------------------------------------------------------------------ point estimates and CIs


@dataclass(frozen=True)
class CorrelationConfig:
    levels: tuple[str, ...] = LEVELS
    methods: tuple[str, ...] = METHODS
    resample: str = "both"       # inputs | systems | both (Deutsch et al. 2021)
    n_resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self):
        for lv in self.levels:
            if lv not in LEVELS:
                raise StatsError(f"unknown level {lv!r}; expected some of {', '.join(LEVELS)}")
        for m in self.methods:
            if m not in METHODS:
                raise StatsError(f"unknown method {m!r}; expected some of {', '.join(METHODS)}")
        if self.resample not in RESAMPLE:
            raise StatsError(f"unknown resampling {self.resample!r}; expected one of "
                             f"{', '.join(RESAMPLE)}")
        if self.n_resamples < 1:
            raise StatsError(f"n_resamples must be >= 1, found {self.n_resamples}")
        if not 0 < self.confidence < 1:
            raise StatsError(f"confidence must lie in (0, 1), found {self.confidence}")


def _explain_undefined(x: np.ndarray, y: np.ndarray, metric: str, aspect: str,
                       level: str, values: LevelValues) -> str:
    valid = np.isfinite(x) & np.isfinite(y)
    if level == "system" and values.n[0] < MIN_POINTS:
        return (f"the system level needs at least {MIN_POINTS} systems with scores, found "
                f"{int(values.n[0])}")
    if level == "summary":
        return (f"every input was skipped ({int(values.n_skipped[0])} inputs: each had a "
                f"constant {metric!r} or {aspect!r} vector across systems, or fewer than "
                f"{MIN_POINTS} scored systems)")
    if level == "system":
        with np.errstate(invalid="ignore", divide="ignore"):
            for name, v in ((aspect, y), (metric, x)):
                means = np.where(valid, v, 0.0).sum(axis=0) / valid.sum(axis=0)
                means = means[np.isfinite(means)]
                if means.size and means.min() == means.max():
                    return f"the per-system means of {name!r} are all equal ({means[0]:g})"
    for name, v in ((aspect, y), (metric, x)):
        vals = v[valid]
        if vals.size and vals.min() == vals.max():
            return f"{name!r} is constant ({vals[0]:g}) over the {vals.size} scored cells"
    return f"fewer than {MIN_POINTS} cells have both scores (found {int(valid.sum())})"


def correlation(x: np.ndarray, y: np.ndarray, *, level: str, method: str,
                metric: str = "metric", aspect: str = "human") -> tuple[float, int, int]:
    """(value, n, n_skipped) of one (R, S) grid pair; raises :class:`StatsError` explaining why
    when the correlation is undefined (never returns NaN)."""
    values = level_correlation(np.asarray(x, float)[None], np.asarray(y, float)[None],
                               level=level, method=method)
    if not np.isfinite(values.value[0]):
        raise StatsError(f"{metric} vs {aspect}, {level} level, {method}: undefined because "
                         + _explain_undefined(np.asarray(x, float), np.asarray(y, float), metric,
                                              aspect, level, values))
    return float(values.value[0]), int(values.n[0]), int(values.n_skipped[0])


def _resampled(grids: Sequence[np.ndarray], rows: np.ndarray, cols: np.ndarray):
    return [g[rows[:, :, None], cols[:, None, :]] for g in grids]


def bootstrap_level(grids: Sequence[np.ndarray], fn, *, resample: str, n_resamples: int,
                    seed: int) -> np.ndarray:
    """``fn(*resampled_grids) -> (B,)`` over ``n_resamples`` draws of inputs/systems; the draws
    depend only on the grid shape, ``resample`` and ``seed`` (so they are shared across metrics
    and the comparison of two metrics is paired)."""
    r, s = grids[0].shape
    rows, cols = bootstrap_indices((r, s), RESAMPLE[resample], n_resamples=n_resamples, seed=seed)
    out = []
    for start in range(0, n_resamples, _CHUNK):
        sl = slice(start, start + _CHUNK)
        out.append(fn(*_resampled(grids, rows[sl], cols[sl])))
    return np.concatenate(out)


# ------------------------------------------------- bootstrap on multiplicities (the fast path)
#
# A bootstrap resample of an inputs x systems grid is fully described by how often each input
# and each system was drawn (row counts cr (B, R), column counts cs (B, S)). Every statistic
# here depends only on that multiset, so instead of materialising B resampled (R, S) grids it is
# computed once per *distinct* cell with integer weights: the duplicated cells of a resample
# are ties in both vectors, which is exactly what the weights reproduce. Ranks and Kendall's
# sums are sums of integers (exact in floating point, so equal to the materialised version
# bit for bit); Pearson sums differ from it only in rounding (~1e-16).


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis where item i counts ``w[..., i]`` times (w = 0: absent;
    x, y must be finite where w > 0 and are broadcast against w). Two-pass, as on the
    expanded vector."""
    n = np.maximum(w.sum(axis=-1), 1)
    mx = (w * x).sum(axis=-1) / n
    my = (w * y).sum(axis=-1) / n
    dx, dy = x - mx[..., None], y - my[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (w * dx * dy).sum(axis=-1) / np.sqrt((w * dx * dx).sum(axis=-1)
                                                 * (w * dy * dy).sum(axis=-1))
    return np.clip(r, -1.0, 1.0)


def _pearson_from_sums(n, sx, sy, sxx, syy, sxy) -> np.ndarray:
    """Pearson r from weighted sums. Callers centre x and y first (or pass exact ranks), so
    the one-pass formula loses nothing to cancellation."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))
    return np.clip(r, -1.0, 1.0)


def _weighted_constant(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _constant(x, w > 0)


def _pair_counts(x: np.ndarray, w: np.ndarray, op) -> np.ndarray:
    """``out[..., s] = sum_t w[..., t] * op(x[..., t], x[..., s])`` for short vectors (the
    (..., n, n) comparison is materialised)."""
    return (w[..., None, :] * op(x[..., None, :], x[..., :, None])).sum(axis=-1)


def _weighted_ranks_small(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank, as scipy's rankdata) of each item among the
    items present with their multiplicities: #smaller + (#equal + 1) / 2."""
    return _pair_counts(x, w, np.less) + (_pair_counts(x, w, np.equal) + 1.0) / 2.0


def _weighted_kendall_small(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kendall tau-b with multiplicities for short vectors: sums over unordered pairs of the
    expanded vector = 1/2 sum_{s,t} w_s w_t (...) over distinct items (a pair of copies of one
    item is tied in both and adds nothing, as in the expanded vector)."""
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[..., :, None] - y[..., None, :])
    ww = w[..., :, None] * w[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ww * sx * sy).sum(axis=(-2, -1)) / np.sqrt(
            (ww * sx * sx).sum(axis=(-2, -1)) * (ww * sy * sy).sum(axis=(-2, -1)))


def _row_pair_sums(k: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """(B, R) sums sum_{s,t} cs[b,s] cs[b,t] k[r,s,t] for a per-input pair matrix k (R, S, S),
    as one matrix product (exact: integer weights times small integers)."""
    r_, s_, _ = k.shape
    inner = (cs @ k.reshape(r_ * s_, s_).T).reshape(-1, r_, s_)  # sum_t cs_t k[r, s, t]
    return np.einsum("brs,bs->br", inner, cs)


def _row_ranks(x: np.ndarray, valid: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """(B, R, S) average ranks of each row of ``x`` (R, S) among its valid columns drawn with
    counts ``cs`` (B, S): #smaller + (#equal + 1) / 2, as two matrix products."""
    r_, s_ = x.shape
    out = [(cs @ (m & valid[:, None, :]).reshape(r_ * s_, s_).T.astype(float)
            ).reshape(-1, r_, s_)
           for m in (x[:, None, :] < x[:, :, None], x[:, None, :] == x[:, :, None])]
    return out[0] + (out[1] + 1.0) / 2.0


def _centre_rows(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    cnt = np.maximum(valid.sum(axis=-1, keepdims=True), 1)
    mean = np.where(valid, x, 0.0).sum(axis=-1, keepdims=True) / cnt
    return np.where(valid, x - mean, 0.0)


def _no_memo(role, kind, compute):
    return compute()


def _summary_bootstrap(x, y, valid, rows, cr, cs, methods,
                       memo=_no_memo) -> dict[str, LevelValues]:
    """Summary level: each input's correlation across the drawn systems (weights cs), then the
    mean over the drawn inputs (weights cr) of the defined ones."""
    vf = valid.astype(float)
    xc, yc = _centre_rows(x, valid), _centre_rows(y, valid)
    n = cs @ vf.T                                          # (B, R) drawn valid cells
    pair_v = valid[:, :, None] & valid[:, None, :]
    xf, yf = np.where(valid, x, 0.0), np.where(valid, y, 0.0)  # signs of raw differences
    sx = np.sign(xf[:, :, None] - xf[:, None, :]) * pair_v    # (R, S, S)
    sy = np.sign(yf[:, :, None] - yf[:, None, :]) * pair_v
    untied_x = memo("x", "untied", lambda: _row_pair_sums(sx * sx, cs))
    untied_y = memo("y", "untied", lambda: _row_pair_sums(sy * sy, cs))
    # a vector is constant over the drawn cells iff no drawn pair is untied
    undefined = (n < MIN_POINTS) | (untied_x == 0) | (untied_y == 0)
    out = {}
    for method in methods:
        if method == "pearson":
            per_input = _pearson_from_sums(n, cs @ xc.T, cs @ yc.T, cs @ (xc * xc).T,
                                           cs @ (yc * yc).T, cs @ (xc * yc).T)
        elif method == "spearman":  # ranks are multiples of 1/2: the sums are exact
            w = memo("", "w", lambda: cs[:, None, :] * vf[None])

            def rank_sums(v):  # (ranks, w * ranks, sum w r, sum w r^2) of one column
                rk = _row_ranks(v, valid, cs)
                wr = w * rk
                return rk, wr, wr.sum(-1), (wr * rk).sum(-1)
            rx, wrx, sx1, sx2 = memo("x", "ranks", lambda: rank_sums(x))
            ry, _, sy1, sy2 = memo("y", "ranks", lambda: rank_sums(y))
            per_input = _pearson_from_sums(n, sx1, sy1, sx2, sy2,
                                           np.einsum("brs,brs->br", wrx, ry))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                per_input = _row_pair_sums(sx * sy, cs) / np.sqrt(untied_x * untied_y)
        used = ~undefined & np.isfinite(per_input)
        wr = cr * used                                     # (B, R) drawn inputs kept
        cnt = wr.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(cnt > 0, (wr * np.where(used, per_input, 0.0)).sum(axis=-1)
                             / np.maximum(cnt, 1), np.nan)
        out[method] = LevelValues(value, cnt, x.shape[0] - cnt)
    return out


def _system_bootstrap(x, y, valid, rows, cr, cs, methods,
                      memo=_no_memo) -> dict[str, LevelValues]:
    """System level: per-system means over the drawn inputs, correlated across the drawn
    systems (weights cs). The means are summed over the drawn rows in drawn order, as on a
    materialised grid, so equal means tie exactly as they did there."""
    cnt = memo("", "cnt", lambda: valid[rows].sum(axis=1))  # (B, S)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = memo("x", "means", lambda: np.where(valid, x, 0.0)[rows].sum(axis=1) / cnt)
        my = memo("y", "means", lambda: np.where(valid, y, 0.0)[rows].sum(axis=1) / cnt)
    has = cnt > 0
    w = cs * has
    mx, my = np.where(has, mx, 0.0), np.where(has, my, 0.0)
    n = w.sum(axis=-1)
    undefined = (n < MIN_POINTS) | _weighted_constant(mx, w) | _weighted_constant(my, w)
    out = {}
    for method in methods:
        if method == "pearson":
            value = _weighted_pearson(mx, my, w)
        elif method == "spearman":
            value = _weighted_pearson(_weighted_ranks_small(mx, w),
                                      _weighted_ranks_small(my, w), w)
        else:
            value = _weighted_kendall_small(mx, my, w)
        out[method] = LevelValues(np.where(undefined, np.nan, value), n, x.shape[1] - n)
    return out


def _tie_group_ranks(v: np.ndarray, w: np.ndarray):
    """For a 1-D ``v`` and weights (B, n): each item's average rank among the weighted items,
    #smaller + (#equal + 1) / 2 (scipy's rankdata on the expanded vector), and per resample
    the sum over tie groups of the squared group weight (for Kendall's tie correction).
    Computed per tie group, then spread to the items with one gather."""
    order = np.argsort(v, kind="stable")
    sv = v[order]
    new = np.r_[True, sv[1:] != sv[:-1]]
    ends = np.r_[np.flatnonzero(new)[1:], len(v)] - 1
    through = np.cumsum(np.take(w, order, axis=1), axis=1)[:, ends]  # weight up to group end
    equal = np.diff(through, axis=1, prepend=0.0)                    # (B, groups)
    group = np.empty(len(v), dtype=np.intp)
    group[order] = np.cumsum(new) - 1                                # each item's group
    rank = through - equal + (equal + 1.0) / 2.0
    return np.take(rank, group, axis=1), np.einsum("ij,ij->i", equal, equal)


# Resampled cells (chunk x R x S) handled at once by bootstrap_correlations (memory bound).
_BOOTSTRAP_CELLS = 2_000_000
# Above this many cells the sample level's Kendall (an n x n sign matrix) uses scipy per resample.
_QUADRATIC_KENDALL_MAX = 6000


def _sample_bootstrap(x, y, valid, rows, cr, cs, methods,
                      memo=_no_memo) -> dict[str, LevelValues]:
    """Sample level: all drawn cells pooled; cell (r, s) counts cr[r] * cs[s] times."""
    b = cr.shape[0]
    v = valid.ravel()
    xf, yf = np.where(v, x.ravel(), 0.0), np.where(v, y.ravel(), 0.0)
    w = memo("", "w", lambda: (cr[:, :, None] * cs[:, None, :]).reshape(b, -1) * v)  # (B, N)
    n = memo("", "n", lambda: w.sum(axis=1))

    def ranks(role, vec):
        """Per column: average ranks (B, N), w * ranks, sum w r, sum w r^2 (exact: half
        integers), and the pairs untied in it, (N^2 - sum over tie groups of G^2) / 2."""
        def compute():
            rank, tied = _tie_group_ranks(vec, w)
            wr = w * rank
            return (rank, wr, wr.sum(axis=1), np.einsum("ij,ij->i", wr, rank),
                    (n ** 2 - tied) / 2.0)
        return memo(role, "ranks", compute)

    undefined = (n < MIN_POINTS) | memo("x", "const", lambda: _weighted_constant(xf, w)) | \
        memo("y", "const", lambda: _weighted_constant(yf, w))
    out = {}
    for method in methods:
        if method == "pearson":
            xc = np.where(v, xf - xf[v].mean(), 0.0) if v.any() else xf
            yc = np.where(v, yf - yf[v].mean(), 0.0) if v.any() else yf
            value = _pearson_from_sums(n, w @ xc, w @ yc, w @ (xc * xc), w @ (yc * yc),
                                       w @ (xc * yc))
        elif method == "spearman":  # ranks are multiples of 1/2: the sums are exact
            _, wrx, sx1, sx2, _ = ranks("x", xf)
            ry, _, sy1, sy2, _ = ranks("y", yf)
            value = _pearson_from_sums(n, sx1, sy1, sx2, sy2, np.einsum("ij,ij->i", wrx, ry))
        elif xf.size <= _QUADRATIC_KENDALL_MAX:
            # numerator = 1/2 w K w with K[s,t] = sign(x_s-x_t) sign(y_s-y_t). Every partial
            # sum of w @ K is an integer of size <= sum(w) = N < 2^24: float32 is exact here.
            k = memo("x", "signs", lambda: np.sign(xf[:, None] - xf[None, :]).astype(np.float32))
            k = k * memo("y", "signs",
                         lambda: np.sign(yf[:, None] - yf[None, :]).astype(np.float32))
            w32 = memo("", "w32", lambda: w.astype(np.float32))
            numer = np.einsum("ij,ij->i", (w32 @ k).astype(np.float64), w) / 2.0
            with np.errstate(invalid="ignore", divide="ignore"):
                value = numer / np.sqrt(ranks("x", xf)[4] * ranks("y", yf)[4])
        else:
            value = np.array([sps.kendalltau(np.repeat(xf, row), np.repeat(yf, row),
                                             variant="b").statistic
                              for row in w.astype(int)])
        out[method] = LevelValues(np.where(undefined, np.nan, value), n, v.size - n)
    return out


_LEVEL_BOOTSTRAP = {"summary": _summary_bootstrap, "system": _system_bootstrap,
                    "sample": _sample_bootstrap}


def bootstrap_correlations(x: np.ndarray, y: np.ndarray, *, level: str,
                           methods: Sequence[str] = METHODS, resample: str, n_resamples: int,
                           seed: int, cache: dict | None = None,
                           names: tuple[str, str] | None = None) -> dict[str, np.ndarray]:
    """{method: (n_resamples,) bootstrap values} of the ``level`` correlation of grids x and
    y, NaN where undefined: the same numbers as :func:`bootstrap_level` with
    :func:`level_correlation` (same draws for the same seed; tests check equality), computed
    on the resamples' multiplicities and shared between the methods.

    ``cache`` (a dict the caller keeps for one grid) with ``names`` (the columns' names) keeps
    per-column work (ranks, tie counts) for the next pair that shares a column."""
    if level not in _LEVEL_BOOTSTRAP:
        raise StatsError(f"unknown level {level!r}; expected one of {LEVELS}")
    for method in methods:
        if method not in METHODS:
            raise StatsError(f"unknown correlation method {method!r}; expected one of "
                             f"{METHODS}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    r, s = x.shape
    rows, cols = bootstrap_indices((r, s), RESAMPLE[resample], n_resamples=n_resamples,
                                   seed=seed)
    cr, cs = index_counts(rows, r).astype(float), index_counts(cols, s).astype(float)
    valid = np.isfinite(x) & np.isfinite(y)
    fn = _LEVEL_BOOTSTRAP[level]
    chunk = max(1, _BOOTSTRAP_CELLS // (r * s))  # bounds the (chunk, R, S) temporaries
    mask = valid.tobytes()

    def memo_for(start):
        def memo(role, kind, compute):
            if cache is None or names is None:
                return compute()
            column = {"x": names[0], "y": names[1]}.get(role, "")  # "": the grid's weights
            key = (column, level, kind, start, resample, n_resamples, seed, mask)
            if key not in cache:
                cache[key] = compute()
            return cache[key]
        return memo

    parts = [fn(x, y, valid, rows[i:i + chunk], cr[i:i + chunk], cs[i:i + chunk], methods,
                memo_for(i))
             for i in range(0, n_resamples, chunk)]
    return {m: np.concatenate([p[m].value for p in parts]) for m in methods}


def bootstrap_correlation(x: np.ndarray, y: np.ndarray, *, level: str, method: str,
                          resample: str, n_resamples: int, seed: int) -> np.ndarray:
    """One method of :func:`bootstrap_correlations`."""
    return bootstrap_correlations(x, y, level=level, methods=(method,), resample=resample,
                                  n_resamples=n_resamples, seed=seed)[method]


def correlate_grid(grid: ScoreGrid, metrics: Sequence[str], aspects: Sequence[str],
                   config: CorrelationConfig = CorrelationConfig()) -> pd.DataFrame:
    """The tidy result table: one row per (metric, aspect, level, method) with the value, its
    bootstrap interval, ``n`` units used and ``n_skipped`` units skipped (see
    :class:`LevelValues`). Raises :class:`StatsError` where a correlation is undefined."""
    rows = []
    cache: dict = {}  # per-column resample work, shared by the pairs that use the column
    for aspect in aspects:
        y = grid.column(aspect)
        for metric in metrics:
            x = grid.column(metric)
            for level in config.levels:
                boot = None
                for method in config.methods:
                    value, n, skipped = correlation(x, y, level=level, method=method,
                                                    metric=metric, aspect=aspect)
                    if boot is None:  # every method of a level from one pass
                        boot = bootstrap_correlations(
                            x, y, level=level, methods=config.methods,
                            resample=config.resample, n_resamples=config.n_resamples,
                            seed=config.seed, cache=cache, names=(metric, aspect))
                    samples = boot[method]
                    low, high, n_valid = percentile_interval(samples, config.confidence)
                    rows.append({"metric": metric, "aspect": aspect, "level": level,
                                 "method": method, "value": value, "ci_low": low,
                                 "ci_high": high, "n": n, "n_skipped": skipped,
                                 "resample": config.resample,
                                 "n_resamples": config.n_resamples,
                                 "n_resamples_valid": n_valid, "seed": config.seed,
                                 "confidence": config.confidence})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- comparing two metrics


def williams_test(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' (1959) t-test of H1: r12 > r13, for correlations that share variable 1
    (human scores) and whose other variables are themselves correlated (r23, metric A vs B).
    Returns (t, one-sided p) with n - 3 degrees of freedom, as used for MT metrics by
    Graham & Baldwin (2014) and in psych::r.test (Steiger 1980, eq. 7 for case A)."""
    if n <= 3:
        raise StatsError(f"Williams' test needs more than 3 points, found {n}")
    for name, r in (("r12", r12), ("r13", r13), ("r23", r23)):
        if not -1.0 <= r <= 1.0 or not math.isfinite(r):
            raise StatsError(f"{name} must be a correlation in [-1, 1], found {r}")
    k = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
    denom = 2 * k * (n - 1) / (n - 3) + ((r12 + r13) ** 2 / 4) * (1 - r23) ** 3
    if denom <= 0:
        raise StatsError("Williams' test is undefined here (the correlation matrix is singular: "
                         "metric A and B, or a metric and the human scores, are collinear)")
    t = (r12 - r13) * math.sqrt((n - 1) * (1 + r23)) / math.sqrt(denom)
    return float(t), float(sps.t.sf(t, df=n - 3))


def _zscore(x: np.ndarray) -> np.ndarray:
    vals = x[np.isfinite(x)]
    sd = vals.std()
    return (x - vals.mean()) / (sd if sd > 0 else 1.0)


def permutation_both(xa: np.ndarray, xb: np.ndarray, y: np.ndarray, *, level: str, method: str,
                     n_permutations: int, seed: int) -> tuple[float, np.ndarray]:
    """PERM-BOTH (Deutsch et al. 2021, sec. 5): under H0 metrics A and B are exchangeable, so
    each cell's A and B scores are swapped independently with probability 1/2 and the
    difference of correlations recomputed. Scores are z-scored per metric first so a swap does
    not mix scales (this leaves every correlation unchanged). Returns (observed, permuted)."""
    za, zb = _zscore(xa), _zscore(xb)
    observed = (level_correlation(za[None], y[None], level=level, method=method).value
                - level_correlation(zb[None], y[None], level=level, method=method).value)[0]
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_permutations, _CHUNK):
        b = min(_CHUNK, n_permutations - start)
        swap = rng.random((b, *za.shape)) < 0.5
        pa, pb = np.where(swap, zb, za), np.where(swap, za, zb)
        yy = np.broadcast_to(y, pa.shape)
        out.append(level_correlation(pa, yy, level=level, method=method).value
                   - level_correlation(pb, yy, level=level, method=method).value)
    return float(observed), np.concatenate(out)


def compare_metrics(grid: ScoreGrid, metric_a: str, metric_b: str, aspects: Sequence[str],
                    config: CorrelationConfig = CorrelationConfig()) -> pd.DataFrame:
    """Does ``metric_a`` correlate better with each aspect than ``metric_b``, on the same data?

    One row per (aspect, level, method): ``delta`` = r(A) - r(B), its paired bootstrap interval
    and one-sided p-value (share of resamples with delta <= 0), the PERM-BOTH permutation
    p-value, and at the system level with Pearson, Williams' test (None elsewhere: the test is
    for Pearson correlations of independent units).
    """
    xa, xb = grid.column(metric_a), grid.column(metric_b)
    rows = []
    for aspect in aspects:
        y = grid.column(aspect)
        for level in config.levels:
            for method in config.methods:
                ra, n, _ = correlation(xa, y, level=level, method=method, metric=metric_a,
                                       aspect=aspect)
                rb, _, _ = correlation(xb, y, level=level, method=method, metric=metric_b,
                                       aspect=aspect)

                # same seed, same draws: the two bootstraps are paired
                deltas = [bootstrap_correlation(xm, y, level=level, method=method,
                                                resample=config.resample,
                                                n_resamples=config.n_resamples, seed=config.seed)
                          for xm in (xa, xb)]
                deltas = deltas[0] - deltas[1]
                low, high, _ = percentile_interval(deltas, config.confidence)
                observed, permuted = permutation_both(
                    xa, xb, y, level=level, method=method,
                    n_permutations=config.n_resamples, seed=config.seed)
                row = {"metric_a": metric_a, "metric_b": metric_b, "aspect": aspect,
                       "level": level, "method": method, "r_a": ra, "r_b": rb,
                       "delta": ra - rb, "ci_low": low, "ci_high": high, "n": n,
                       "p_bootstrap": paired_bootstrap_pvalue(deltas),
                       "p_permutation": permutation_pvalue(observed, permuted),
                       "p_williams": None, "resample": config.resample,
                       "n_resamples": config.n_resamples, "seed": config.seed}
                if level == "system" and method == "pearson":
                    r_ab, n_sys, _ = correlation(xa, xb, level="system", method="pearson",
                                                 metric=metric_a, aspect=metric_b)
                    row["p_williams"] = williams_test(ra, rb, r_ab, n_sys)[1]
                rows.append(row)
    return pd.DataFrame(rows)
