"""Samples: one prompt, the baseline and a checkpoint side by side, with every score."""
import streamlit as st

from rlhf_eval.dashboard import cached, widgets
from rlhf_eval.dashboard import samples as S

st.title("Samples")
path = widgets.require_results()
checkpoints = cached.table(path, "checkpoints")
run = widgets.pick("Run", sorted(checkpoints["run"].unique()))
ckpts = checkpoints[checkpoints["run"] == run].sort_values("step")
names = list(ckpts["checkpoint"])
base_default = next(iter(ckpts.loc[ckpts["is_baseline"].astype(bool), "checkpoint"]), None)
policy = [c for c in names if c != base_default and c != "references"]
left, right = st.columns(2)
with left:
    baseline = widgets.pick("Baseline", names, default=base_default)
with right:
    checkpoint = widgets.pick("Checkpoint", names, default=policy[-1] if policy else None)

view = S.paired_view(cached.table(path, "scores_frame", run=run), baseline=baseline,
                     checkpoint=checkpoint)
if view.empty:
    st.info(f"No prompt was scored for both `{baseline}` and `{checkpoint}` in run `{run}`: "
            "evaluate both with `rlhf-eval eval --run DIR`.")
    st.stop()

metrics = S.metrics_of(view)
modes = {"Reward-hacking suspects (reward up, quality down)": "hacking",
         "Largest drop in a metric": "drop", "Largest rise in a metric": "rise",
         "Disagreement: one metric up, others down": "disagree"}
mode = modes[st.radio("Order samples by", list(modes))]
metric, against = None, None
if mode in ("drop", "rise", "disagree"):
    metric = widgets.pick("Metric", metrics, default="reward" if mode == "disagree" else "gold")
if mode == "disagree":
    quality = [m for m in S.quality_metrics(view) if m != metric]
    against = st.multiselect("... while these fall", [m for m in metrics if m != metric],
                             default=quality[:3])
    if not against:
        st.warning("Pick at least one metric to compare against.")
        st.stop()
query = st.text_input("Filter: prompt or completion contains")
ranked = S.rank_samples(view, mode, metric, against)
if query:
    hay = ranked["prompt"] + "\n" + ranked["completion_base"] + "\n" + ranked["completion_ckpt"]
    ranked = ranked[hay.str.contains(query, case=False, regex=False)]
if mode == "hacking":
    st.caption(f"{len(ranked)} of {len(view)} prompts: the RM reward rose while every one of "
               f"{', '.join(S.quality_metrics(view)) or 'no quality metric'} that the prompt "
               "has fell. Most suspicious first.")
if ranked.empty:
    st.info("No sample matches." if query or mode != "hacking" else
            "No reward-hacking suspect: no prompt where the RM score rose while every "
            "reference-based / gold metric fell (needs the `reward` metric and at least one of "
            f"{', '.join(S.QUALITY_METRICS)}).")
    st.stop()

shown = ["sample_id", "score"] + [f"delta:{m}" for m in metrics]
st.dataframe(ranked[shown], hide_index=True, height=240)
labels = [f"{i + 1}. {sid}  (score {sc:.3g})" for i, (sid, sc) in
          enumerate(zip(ranked["sample_id"], ranked["score"]))]
choice = st.selectbox("Sample", range(len(labels)), format_func=labels.__getitem__)
row = ranked.iloc[choice]

widgets.literal(row["prompt"], label="Prompt")
with st.expander(f"References ({len(row['references'])})"):
    for ref in row["references"]:
        widgets.literal(ref)
left, right = st.columns(2)
with left:
    widgets.literal(row["completion_base"], label=f"{baseline}")
with right:
    widgets.literal(row["completion_ckpt"], label=f"{checkpoint}")
st.dataframe(S.scores_table(row), hide_index=True)
verdicts = S.judge_verdicts(
    cached.table(path, "judgments_of_generations", gen_ids=(row["gen_base"], row["gen_ckpt"])),
    gen_base=row["gen_base"], gen_ckpt=row["gen_ckpt"], baseline=baseline, checkpoint=checkpoint)
if len(verdicts):
    st.subheader("LLM judges, both orders")
    st.caption("Each judge saw the pair twice, once in each order (`rlhf-eval winrate --llm`). "
               "A judge whose answer follows the position rather than the text is biased.")
    st.dataframe(verdicts, hide_index=True)
