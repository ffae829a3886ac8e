"""Reward model: accuracy, calibration, reward distributions, length bias, per category."""
from pathlib import Path

import streamlit as st

from rlhf_eval.dashboard import cached, charts, source, widgets
from rlhf_eval.dashboard import rm as RM
from rlhf_eval.errors import RlhfEvalError

st.title("Reward model")
path = widgets.store_path()
folders = [path.parent]
if source.store_state(path).has_results:
    folders += [Path(p) for p in cached.table(path, "runs")["path"].dropna()]
found = RM.find_rm_evals(folders)
typed = st.text_input("Folder with rm_eval.json (the --out of `rlhf-eval eval-rm`)",
                      value=str(found[0]) if found else "")
if typed and typed != (str(found[0]) if found else ""):
    typed = str(widgets.allowed_path(typed))  # only the app's folders may be read
if not typed:
    st.info("No reward-model evaluation found next to the store. Produce one with "
            "`rlhf-eval eval-rm --model runs/rm --data pairs_test.jsonl --out runs/rm/eval` "
            "and enter the folder above.")
    st.stop()
try:
    result = RM.load_result(typed)
    pairs = RM.load_pairs(typed)
except RlhfEvalError as exc:
    st.error(str(exc))
    st.stop()

acc = result["accuracy"]
cols = st.columns(4)
cols[0].metric("accuracy", f"{acc['value']:.3f}",
               help=f"95% CI [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}], chance 0.5")
cols[1].metric("pairs", acc["n"])
cols[2].metric("ECE", f"{result['calibration']['ece']:.3f}")
cols[3].metric("Brier", f"{result['calibration']['brier']:.3f}")
st.caption(f"model `{result.get('model', '?')}` on `{result.get('data', '?')}`; "
           f"{result.get('signature', '')}")
widgets.chart(charts.interval_bars(RM.accuracy_frame(result), category="what", value="value",
                                     low="ci_low", high="ci_high",
                                     title="accuracy with 95% interval"))
left, right = st.columns(2)
with left:
    widgets.chart(charts.calibration_chart(RM.calibration_frame(result)))
with right:
    widgets.chart(charts.distributions(RM.reward_long(result, pairs), value="reward",
                                         group="side", title="rewards of chosen and rejected"))
st.subheader("Length bias")
widgets.chart(charts.interval_bars(RM.length_frame(result), category="what", value="value",
                                     low="ci_low", high="ci_high",
                                     title="accuracy by which answer is longer"))
corr = result["length"].get("corr_reward_length", {})
st.caption(f"chosen is the longer answer in {result['length']['chosen_longer_fraction']:.0%} "
           f"of pairs; the RM prefers the longer one in "
           f"{result['length']['rm_prefers_longer_fraction']:.0%}; reward-length Spearman "
           f"{corr.get('spearman') if corr.get('spearman') is None else round(corr['spearman'], 3)}")
groups = {k: v for k, v in (("category", "by_category"), ("subset", "by_subset"),
                            ("annotator", "by_annotator")) if result.get(v)}
if groups:
    kind = st.radio("Accuracy per", list(groups), horizontal=True)
    frame = RM.group_frame(result, groups[kind])
    widgets.chart(charts.interval_bars(frame, category="what", value="value", low="ci_low",
                                         high="ci_high", title=f"accuracy per {kind}"))
else:
    st.info("The pairs carry no category, subset or annotator, so there is no per-group "
            "accuracy (add `meta.category` / `meta.subset` / `annotator` to the pairs).")
