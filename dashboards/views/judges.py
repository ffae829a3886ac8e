"""Judges: each LLM judge's position and length biases, and its agreement with human labels."""
import streamlit as st

from rlhf_eval.dashboard import cached, widgets
from rlhf_eval.dashboard import judges as J

st.title("Judges")
path = widgets.require_results()
gens = cached.table(path, "generations")
judgments = cached.table(path, "judgments_of_generations", gen_ids=tuple(gens["gen_id"]))
items = J.judge_items(judgments, gens)
if not items:
    st.info("No LLM judge has judged generation pairs in both orders in this store: run "
            "`rlhf-eval winrate --run DIR --llm MODEL` (e.g. `--llm smollm2`).")
    st.stop()
names = {sig: f"judge {k + 1}" for k, sig in enumerate(sorted(items))}
for sig, it in sorted(items.items()):
    st.subheader(f"{names[sig]}: {len(it)} pairs, both orders")
    st.caption(sig)
    table, flags = J.bias_table(it)
    st.dataframe(table, hide_index=True)
    for flag in flags:
        st.warning(flag)
agree = J.agreement({names[s]: it for s, it in items.items()},
                    cached.table(path, "pairwise_labels"))
st.subheader("Agreement with human labels")
if agree is None:
    st.info("No generation pair was both judged and labelled by a person (Label page).")
else:
    st.dataframe(agree, hide_index=True)
