"""Runs: metrics across checkpoints, win-rates, the reward-KL frontier, over-optimization."""
import pandas as pd
import streamlit as st

from rlhf_eval.dashboard import cached, charts, source, widgets
from rlhf_eval.dashboard import runs as R
from rlhf_eval.dashboard.overopt import fit_overoptimization
from rlhf_eval.errors import RlhfEvalError

st.title("Runs")
path = widgets.require_results()
with st.spinner("Summarising every checkpoint (bootstrap intervals; cached afterwards)..."):
    summary = cached.table(path, "checkpoint_summary")
checkpoints = cached.table(path, "checkpoints")
runs_table = cached.table(path, "runs")
run_paths = source.run_folders(path, runs_table)  # relative to the store, not to here

all_runs = sorted(summary["run"].unique())
chosen = st.multiselect("Runs (overlaid)", all_runs, default=all_runs)
summary = summary[summary["run"].isin(chosen)]
metrics = sorted(summary["metric"].unique())
metric = widgets.pick("Metric", metrics, default="reward")
if metric:
    widgets.chart(charts.metric_trend(summary, metric))
    with st.expander("Table"):
        st.dataframe(summary[summary["metric"] == metric], hide_index=True)

st.subheader("Win-rate against the baseline")
winrates = cached.table(path, "winrates")
winrates = winrates[winrates["run"].isin(chosen)]
if winrates.empty:
    st.info("No win-rates in this store yet: `rlhf-eval eval` computes them against the "
            "baseline after scoring every checkpoint.")
else:
    judge = widgets.pick("Judge", sorted(winrates["judge"].unique()), default="reward")
    base = widgets.pick("Against", sorted(winrates["baseline"].unique()), default="baseline")
    part = winrates[(winrates["judge"] == judge) & (winrates["baseline"] == base)]
    part = part.merge(checkpoints[["run", "checkpoint", "step"]], on=["run", "checkpoint"],
                      how="left")
    widgets.chart(charts.winrate_chart(part))

st.subheader("Reward vs KL")
logs = R.find_ppo_metrics({r: run_paths.get(r) for r in chosen})
sources = ["evaluated checkpoints"] + (["training log (metrics.jsonl)"] if logs else [])
origin = st.radio("Points from", sources, horizontal=True)
if origin == sources[0]:
    points = R.frontier_from_summary(summary, checkpoints)
else:
    frames = [cached.ppo_metrics(p).assign(run=r) for r, p in logs.items()]
    points = pd.concat(frames, ignore_index=True)
if points.empty or points["proxy"].notna().sum() == 0:
    st.info("No KL and reward scores to plot: the evaluation suite writes the metrics `kl` and "
            "`reward` when it is given the reference policy and a reward model "
            "(`rlhf-eval eval --run DIR`); PPO's `metrics.jsonl` in the run folder works too.")
else:
    widgets.chart(charts.frontier_chart(points))

st.subheader("Over-optimization: gold vs proxy reward")
gold_points = R.with_sqrt_kl(points.dropna(subset=["gold"])) if "gold" in points else points
if gold_points.empty:
    st.info("No gold reward here: it exists on the lab's synthetic task, where the truth is "
            "known (`rlhf-eval lab`, train on it, then `rlhf-eval eval`).")
else:
    fit_run = widgets.pick("Fit the curve to run", sorted(gold_points["run"].unique()))
    mine = gold_points[gold_points["run"] == fit_run]
    fit = None
    try:
        fit = fit_overoptimization(mine["kl"], mine["gold"], gold_at_init=R.gold_at_init(mine))
    except (RlhfEvalError, RuntimeError) as exc:
        st.warning(f"No fit for {fit_run}: {exc}")
    widgets.chart(charts.overoptimization_chart(R.with_sqrt_kl(points.dropna(
        subset=["kl"])), fit))
    if fit is not None:
        cols = st.columns(4)
        cols[0].metric("a", f"{fit.a:.3f} ± {fit.a_stderr:.3f}")
        cols[1].metric("b", f"{fit.b:.3f} ± {fit.b_stderr:.3f}")
        cols[2].metric("gold peaks at KL", f"{fit.kl_peak:.2f}" if fit.b > 0 else "no peak")
        cols[3].metric("fit RMSE", f"{fit.rmse:.3f}")
        st.caption(f"Dashed: fit to run {fit_run} of gold(d) - gold(0) = d (a - b log d), "
                   f"d = sqrt(KL) (Gao et al. 2022, RL form) over {fit.n} points (± standard "
                   "errors); beyond the peak, more optimization of the proxy lowers the true "
                   "reward. Few points make a loose fit: the training log has one per step.")
