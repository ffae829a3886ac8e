"""rlhf-eval dashboard entry point: only navigation and the store picker.

Start it with ``rlhf-eval dashboard [--store PATH | --run DIR]`` (or
``streamlit run dashboards/app.py -- --store PATH``). Every page lives in ``views/`` and every
computation in :mod:`rlhf_eval.dashboard`.

The page scripts live in ``views/``, not ``pages/``: Streamlit treats a ``pages/`` folder next
to the entry point as an old-style multipage app, and the first visit to a deep link such as
``/label`` after the server starts would then run that page alone, skipping this file.
"""
import streamlit as st

from rlhf_eval.dashboard import widgets

st.set_page_config(page_title="rlhf-eval", layout="wide")
widgets.store_path()  # resolve --store / RLHF_EVAL_STORE once per session
st.sidebar.text_input("Results store (SQLite file)", key=widgets.STORE_KEY,
                      help="runs/<name>/results.sqlite, written by `rlhf-eval eval`")

pages = [
    st.Page("views/runs.py", title="Runs", icon=":material/show_chart:", default=True),
    st.Page("views/correlations.py", title="Correlations", icon=":material/grid_on:"),
    st.Page("views/samples.py", title="Samples", icon=":material/compare:"),
    st.Page("views/reward_model.py", title="Reward model", icon=":material/balance:"),
    st.Page("views/judges.py", title="Judges", icon=":material/gavel:"),
    st.Page("views/label.py", title="Label", icon=":material/how_to_vote:"),
]
st.navigation(pages).run()
