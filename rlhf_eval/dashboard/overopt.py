"""Reward over-optimization: the gold reward as a function of the distance from the start policy.

Gao, Schulman & Hilton 2022 ("Scaling Laws for Reward Model Overoptimization", eq. 2) find that
under RL the gold reward, measured relative to the initial policy, follows

    R(d) = d * (a - b * log d),   d = sqrt(KL(pi || pi_init))

The proxy (the RM being optimized) keeps rising while the gold reward peaks and falls: the peak
sits where dR/dd = a - b log d - b = 0, i.e. d* = exp(a/b - 1), with R(d*) = b * d*. The fit
below recovers a, b with :func:`scipy.optimize.curve_fit` so the Runs page can draw the curve
and report the KL budget after which more optimization hurts.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import DataError


def gold_curve(d, a: float, b: float):
    """R(d) = d (a - b log d); R(0) = 0 (the limit), never NaN for d = 0."""
    d = np.asarray(d, dtype=float)
    safe = np.where(d > 0, d, 1.0)
    return np.where(d > 0, d * (a - b * np.log(safe)), 0.0)


@dataclass(frozen=True)
class OveroptFit:
    a: float
    b: float
    a_stderr: float
    b_stderr: float
    n: int
    rmse: float
    offset: float  # gold at the initial policy, subtracted before fitting (R(0) = 0)

    @property
    def d_peak(self) -> float:
        """sqrt(KL) at which the fitted gold reward peaks (inf if it never turns down)."""
        if self.b <= 0:
            return math.inf
        try:
            return math.exp(self.a / self.b - 1.0)
        except OverflowError:  # b ~ 0: the curve is linear in d over any reachable KL
            return math.inf

    @property
    def kl_peak(self) -> float:
        return self.d_peak ** 2

    @property
    def gold_peak(self) -> float:
        """Peak gold reward in the caller's units (offset added back)."""
        if not math.isfinite(self.d_peak):
            return math.inf
        return self.b * self.d_peak + self.offset

    def predict(self, kl) -> np.ndarray:
        d = np.sqrt(np.clip(np.asarray(kl, dtype=float), 0.0, None))
        return gold_curve(d, self.a, self.b) + self.offset


def fit_overoptimization(kl, gold, *, gold_at_init: float = 0.0) -> OveroptFit:
    """Fit R(d) = d (a - b log d) to (KL, gold) points.

    ``kl`` is the KL divergence to the initial policy (nats), ``gold`` the gold reward at that
    KL; ``gold_at_init`` is subtracted first because the law is stated relative to the initial
    policy. Small negative KL estimates (the sample estimator is noisy) are clipped to 0.
    Needs at least 3 finite points with KL > 0.
    """
    kl = np.asarray(kl, dtype=float)
    gold = np.asarray(gold, dtype=float)
    if kl.shape != gold.shape:
        raise DataError(f"expected as many gold values as KL values, found {gold.size} and "
                        f"{kl.size}", field="gold")
    keep = np.isfinite(kl) & np.isfinite(gold)
    d = np.sqrt(np.clip(kl[keep], 0.0, None))
    y = gold[keep] - gold_at_init
    if int((d > 0).sum()) < 3:
        raise DataError(f"expected at least 3 points with KL > 0 to fit the over-optimization "
                        f"curve, found {int((d > 0).sum())}", field="kl")
    from scipy.optimize import OptimizeWarning, curve_fit  # slow import: only when fitting

    # start from the least-squares solution of the linear model y/d = a - b log d
    pos = d > 0
    design = np.column_stack([np.ones(pos.sum()), -np.log(d[pos])])
    p0, *_ = np.linalg.lstsq(design, y[pos] / d[pos], rcond=None)
    with warnings.catch_warnings():
        # an exact fit (synthetic data) has no covariance estimate: stderr NaN, not a warning
        warnings.simplefilter("ignore", OptimizeWarning)
        params, cov = curve_fit(gold_curve, d, y, p0=p0, maxfev=10_000)
    stderr = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if np.all(np.isfinite(cov)) \
        else np.array([math.nan, math.nan])
    resid = y - gold_curve(d, *params)
    return OveroptFit(a=float(params[0]), b=float(params[1]), a_stderr=float(stderr[0]),
                      b_stderr=float(stderr[1]), n=int(d.size),
                      rmse=float(np.sqrt(np.mean(resid ** 2))), offset=float(gold_at_init))
