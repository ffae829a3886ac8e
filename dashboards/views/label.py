"""Label: pairwise human judgments, written to the store one click at a time."""
import streamlit as st

from rlhf_eval.dashboard import cached, charts, labeling, source, widgets

st.title("Label")
path = widgets.require_results()
checkpoints = cached.table(path, "checkpoints")

# the name rides in the URL (?annotator=...), so a reload or a bookmark keeps it
if "annotator" not in st.session_state:
    st.session_state["annotator"] = st.query_params.get("annotator", "")
annotator = st.text_input("Your name (annotator)", key="annotator").strip()
if annotator:
    st.query_params["annotator"] = annotator
run = widgets.pick("Run", sorted(checkpoints["run"].unique()))
ckpts = checkpoints[(checkpoints["run"] == run) & (checkpoints["checkpoint"] != "references")]
names = list(ckpts.sort_values("step")["checkpoint"])
base = next(iter(ckpts.loc[ckpts["is_baseline"].astype(bool), "checkpoint"]), names[0])
left_col, right_col = st.columns(2)
with left_col:
    ck_a = widgets.pick("Compare", names, default=base)
with right_col:
    ck_b = widgets.pick("against", names, default=names[-1])

gens = labeling.generations(cached.table(path, "generations", run=run))
labels = cached.table(path, "pairwise_labels", run=run)
items = labeling.label_items(gens, run=run, checkpoint_a=ck_a, checkpoint_b=ck_b)


def _submit(item, choice, left_gen, note_key):
    """Button callback: write the label before the rerun that shows the next item."""
    winner = labeling.canonical_winner(choice, item, left_gen)
    source.submit_label(path, run=item.run, sample_id=item.sample_id, gen_a=item.gen_a,
                        gen_b=item.gen_b, winner=winner, annotator=st.session_state["annotator"],
                        note=st.session_state.get(note_key, "").strip() or None,
                        shown_left=left_gen)
    st.session_state["last_saved"] = f"Saved: {choice} for {item.sample_id}."


if ck_a == ck_b:
    st.info("Pick two different checkpoints to compare.")
elif not items:
    st.info(f"`{ck_a}` and `{ck_b}` share no prompt in run `{run}`: evaluate both with "
            "`rlhf-eval eval --run DIR`.")
elif not annotator:
    st.info("Enter your name to start labeling: each judgment is stored with it.")
else:
    if "last_saved" in st.session_state:
        st.success(st.session_state.pop("last_saved"))
    item = labeling.next_item(items, labels, annotator)
    mine = int((labels["annotator"] == annotator).sum()) if not labels.empty else 0
    if item is None:
        st.success(f"All {len(items)} pairs of {ck_a} vs {ck_b} are labeled by {annotator}.")
    else:
        done = len(items) - sum(labeling.next_item([i], labels, annotator) is not None
                                for i in items)
        st.progress(done / len(items), text=f"{done} of {len(items)} pairs labeled by you")
        left_gen, right_gen = labeling.shown_order(item, annotator)
        text = {item.gen_a: item.completion_a, item.gen_b: item.completion_b}
        widgets.literal(item.prompt, label="Prompt")
        c1, c2 = st.columns(2)
        with c1:
            widgets.literal(text[left_gen], label="Response 1 (left)")
        with c2:
            widgets.literal(text[right_gen], label="Response 2 (right)")
        note_key = f"note-{item.key}"
        st.text_input("Note (optional)", key=note_key)
        b1, b2, b3 = st.columns(3)
        for col, choice, title in ((b1, "left", "Left is better"), (b2, "tie", "Tie"),
                                   (b3, "right", "Right is better")):
            col.button(title, key=f"{choice}-{item.key}", on_click=_submit,
                       args=(item, choice, left_gen, note_key), width="stretch")

st.subheader("Agreement and human win-rate")
if labels.empty:
    st.info("No pairwise labels in this run yet: they appear here as soon as someone labels.")
else:
    agree = labeling.agreement(labels)
    cols = st.columns(5)
    cols[0].metric("labels", len(labels))
    cols[1].metric("annotators", agree["n_annotators"])
    cols[2].metric("pairs with 2+ annotators", agree["n_items"])
    cols[3].metric("percent agreement", "n/a" if agree["percent"] != agree["percent"]
                   else f"{agree['percent']:.0%}")
    cols[4].metric("Krippendorff's alpha", "n/a" if agree["alpha"] != agree["alpha"]
                   else f"{agree['alpha']:.2f}")
    wr = labeling.human_winrates(labels, gens)
    wr = wr[wr["baseline"] == ck_a] if (wr["baseline"] == ck_a).any() else wr
    if not wr.empty:
        wr = wr.assign(pair=wr["checkpoint"] + " vs " + wr["baseline"])
        widgets.chart(charts.interval_bars(wr, category="pair", value="winrate",
                                             low="ci_low", high="ci_high",
                                             title="human win-rate (ties count half)"))
        st.dataframe(wr.drop(columns=["pair"]), hide_index=True)
