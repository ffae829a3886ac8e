"""rlhf-eval dashboard entry point: only navigation and the store picker.

Start it with ``rlhf-eval dashboard [--store PATH | --run DIR]`` (or
``streamlit run dashboards/app.py -- --store PATH``). Every page lives in ``pages/`` and every
computation in :mod:`rlhf_eval.dashboard`.
"""
import streamlit as st

from rlhf_eval.dashboard import widgets

st.set_page_config(page_title="rlhf-eval", layout="wide")
widgets.store_path()  # resolve --store / RLHF_EVAL_STORE once per session
st.sidebar.text_input("Results store (SQLite file)", key=widgets.STORE_KEY,
                      help="runs/<name>/results.sqlite, written by `rlhf-eval eval`")

pages = [
    st.Page("pages/runs.py", title="Runs", icon=":material/show_chart:", default=True),
    st.Page("pages/correlations.py", title="Correlations", icon=":material/grid_on:"),
    st.Page("pages/samples.py", title="Samples", icon=":material/compare:"),
    st.Page("pages/reward_model.py", title="Reward model", icon=":material/balance:"),
    st.Page("pages/label.py", title="Label", icon=":material/how_to_vote:"),
]
st.navigation(pages).run()
