"""Altair chart builders: each takes a tidy DataFrame and returns an ``alt.Chart``.

Kept free of Streamlit so they can be unit-tested (``chart.to_dict()`` validates the spec)
and reused in notebooks. Tooltips everywhere: the point of a dashboard is to ask "which
checkpoint is that?" by hovering.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .overopt import OveroptFit

WIDTH = "container"
# distinct hues for runs/series (the default theme palette is shades of one blue)
PALETTE = alt.Scale(scheme="category10")


def metric_trend(summary: pd.DataFrame, metric: str) -> alt.Chart:
    """Mean of ``metric`` per checkpoint step, one line per run, with its CI as a band."""
    data = summary[summary["metric"] == metric].dropna(subset=["mean"])
    data = data[data["step"] >= 0].sort_values(["run", "step"])
    base = alt.Chart(data).encode(
        x=alt.X("step:Q", title="training step"),
        color=alt.Color("run:N", title="run", scale=PALETTE))
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("ci_low:Q", title=metric),
                                              y2="ci_high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=metric, scale=alt.Scale(zero=False)),
        tooltip=["run", "checkpoint", "step", alt.Tooltip("mean:Q", format=".4g"),
                 alt.Tooltip("ci_low:Q", format=".4g"), alt.Tooltip("ci_high:Q", format=".4g"),
                 "n", "n_missing"])
    return (band + line).properties(width=WIDTH, height=300, title=f"{metric} by checkpoint")


def winrate_chart(winrates: pd.DataFrame) -> alt.Chart:
    """Win-rate against the baseline per step with its interval, one colour per run x judge."""
    data = winrates.dropna(subset=["winrate"]).copy()
    data["series"] = data["run"] + " / " + data["judge"]
    base = alt.Chart(data).encode(x=alt.X("step:Q", title="training step"),
                                  color=alt.Color("series:N", title="run / judge", scale=PALETTE))
    rule = alt.Chart(pd.DataFrame({"y": [0.5]})).mark_rule(strokeDash=[4, 4]).encode(y="y:Q")
    bars = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="win-rate vs baseline",
                                               scale=alt.Scale(domain=[0, 1])), y2="ci_high:Q")
    pts = base.mark_line(point=True).encode(
        y="winrate:Q",
        tooltip=["run", "checkpoint", "judge", "baseline", alt.Tooltip("winrate:Q", format=".3f"),
                 alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f"),
                 "wins", "ties", "losses", "n"])
    return (rule + bars + pts).properties(width=WIDTH, height=280,
                                          title="win-rate against the baseline")


def frontier_chart(frontier: pd.DataFrame, *, x: str = "kl", y: str = "proxy",
                   title: str = "reward vs KL") -> alt.Chart:
    """The reward-KL frontier: each point a checkpoint (or logged step), joined per run."""
    data = frontier.dropna(subset=[x, y]).sort_values(["run", x])
    tips = [c for c in ("run", "checkpoint", "step") if c in data.columns]
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title="KL to the reference (nats)" if x == "kl" else x),
        y=alt.Y(f"{y}:Q", title="proxy reward (RM)" if y == "proxy" else y,
                scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", scale=PALETTE), order=f"{x}:Q",
        tooltip=tips + [alt.Tooltip(f"{x}:Q", format=".3f"), alt.Tooltip(f"{y}:Q", format=".3f")],
    ).properties(width=WIDTH, height=300, title=title)


def overoptimization_chart(points: pd.DataFrame, fit: OveroptFit | None) -> alt.Chart:
    """Gold and proxy reward against sqrt(KL), with the fitted gold curve (Gao et al. 2022)."""
    long = points.melt(id_vars=[c for c in ("run", "checkpoint", "step", "sqrt_kl")
                                if c in points.columns],
                       value_vars=[c for c in ("proxy", "gold") if c in points.columns],
                       var_name="reward", value_name="value").dropna(subset=["value"])
    layers = [alt.Chart(long).mark_point(filled=True).encode(
        x=alt.X("sqrt_kl:Q", title="sqrt(KL)"),
        y=alt.Y("value:Q", title="reward", scale=alt.Scale(zero=False)),
        color=alt.Color("reward:N", title="reward", scale=PALETTE), shape="run:N",
        tooltip=[c for c in ("run", "checkpoint", "step") if c in long.columns]
        + ["reward", alt.Tooltip("sqrt_kl:Q", format=".3f"),
           alt.Tooltip("value:Q", format=".3f")])]
    if fit is not None:
        d = np.linspace(0.0, max(float(points["sqrt_kl"].max()) * 1.15, 1e-3), 120)
        curve = pd.DataFrame({"sqrt_kl": d, "value": fit.predict(d ** 2),
                              "reward": "gold fit"})
        layers.append(alt.Chart(curve).mark_line(strokeDash=[6, 3], color="black").encode(
            x="sqrt_kl:Q", y="value:Q", tooltip=[alt.Tooltip("value:Q", format=".3f")]))
        if np.isfinite(fit.d_peak) and fit.d_peak <= d.max():
            peak = pd.DataFrame({"sqrt_kl": [fit.d_peak]})
            layers.append(alt.Chart(peak).mark_rule(color="gray").encode(x="sqrt_kl:Q"))
    return alt.layer(*layers).properties(width=WIDTH, height=320,
                                         title="gold vs proxy reward against sqrt(KL)")


def correlation_heatmap(table: pd.DataFrame) -> alt.Chart:
    """metric x aspect matrix of correlation values (one level and method)."""
    data = table.copy()
    data["label"] = data["value"].map(lambda v: f"{v:.2f}" if np.isfinite(v) else "")
    base = alt.Chart(data).encode(x=alt.X("aspect:N", title="human aspect",
                                        axis=alt.Axis(labelAngle=0)),
                                  y=alt.Y("metric:N", title="metric"))
    rect = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1]),
                        title="correlation"),
        tooltip=["metric", "aspect", alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f"),
                 "n"])
    text = base.mark_text().encode(text="label:N")
    return (rect + text).properties(width=WIDTH, height=max(160, 28 * data["metric"].nunique()))


def scatter(frame: pd.DataFrame, x: str, y: str, *, color: str | None = None) -> alt.Chart:
    """Points of ``y`` against ``x`` with a least-squares line. Fields are passed by name, not
    shorthand, so column names with ``:`` or ``.`` work."""
    data = frame.dropna(subset=[x, y])
    tips = [alt.Tooltip(field=c, type="nominal") for c in ("doc_id", "system", "sample_id",
                                                           "checkpoint") if c in data.columns]
    tips += [alt.Tooltip(field=x, type="quantitative", format=".3f"),
             alt.Tooltip(field=y, type="quantitative", format=".3f")]
    enc = {"x": alt.X(field=x, type="quantitative", title=x, scale=alt.Scale(zero=False)),
           "y": alt.Y(field=y, type="quantitative", title=y, scale=alt.Scale(zero=False)),
           "tooltip": tips}
    if color:
        enc["color"] = alt.Color(field=color, type="nominal")
    # Vega field names: escape the characters it would read as nesting
    safe = data.rename(columns={x: "_x", y: "_y"})[["_x", "_y"]]
    trend = alt.Chart(safe).transform_regression("_x", "_y").mark_line(color="black").encode(
        x=alt.X("_x:Q", title=x), y=alt.Y("_y:Q", title=y))
    points = alt.Chart(data).mark_circle(opacity=0.5, size=30).encode(**enc)
    return (points + trend).properties(width=WIDTH, height=320)


def interval_bars(frame: pd.DataFrame, *, category: str, value: str, low: str, high: str,
                  title: str, domain: tuple[float, float] | None = (0.0, 1.0)) -> alt.Chart:
    """A point per category with its interval (accuracy per category, win-rate per checkpoint)."""
    scale = alt.Scale(domain=list(domain)) if domain else alt.Scale(zero=False)
    base = alt.Chart(frame).encode(y=alt.Y(f"{category}:N", title=None, sort=None,
                                           axis=alt.Axis(labelLimit=320)))
    bars = base.mark_errorbar().encode(x=alt.X(f"{low}:Q", title=value, scale=scale),
                                       x2=f"{high}:Q")
    pts = base.mark_point(filled=True, size=60).encode(
        x=f"{value}:Q", tooltip=[category, alt.Tooltip(f"{value}:Q", format=".3f"),
                                 alt.Tooltip(f"{low}:Q", format=".3f"),
                                 alt.Tooltip(f"{high}:Q", format=".3f")]
        + (["n"] if "n" in frame.columns else []))
    return (bars + pts).properties(width=WIDTH, height=max(60, 36 * frame[category].nunique()),
                                   title=title)


def calibration_chart(bins: pd.DataFrame) -> alt.Chart:
    """Predicted P(chosen > rejected) per bin against the observed frequency; diagonal = ideal."""
    diag = alt.Chart(pd.DataFrame({"p": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="p:Q", y="p:Q")
    pts = alt.Chart(bins).mark_line(point=True).encode(
        x=alt.X("confidence:Q", title="predicted probability", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("accuracy:Q", title="observed frequency", scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f"),
                 "n"])
    return (diag + pts).properties(width=WIDTH, height=300, title="calibration")


def distributions(frame: pd.DataFrame, *, value: str, group: str, title: str) -> alt.Chart:
    """Overlaid histograms of ``value`` per ``group`` (chosen vs rejected rewards)."""
    return alt.Chart(frame).mark_bar(opacity=0.5, binSpacing=0).encode(
        x=alt.X(f"{value}:Q", bin=alt.Bin(maxbins=40), title=value),
        y=alt.Y("count():Q", stack=None), color=alt.Color(f"{group}:N", scale=PALETTE),
        tooltip=[group, "count()"]).properties(width=WIDTH, height=260, title=title)
