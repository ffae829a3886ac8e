"""Small Streamlit building blocks shared by the pages: the store in use, "how to produce
this data" notices, and literal text display.

Text written by a model is untrusted: it is shown with ``st.code`` (a preformatted block; no
Markdown, no HTML), never with ``st.markdown`` or ``unsafe_allow_html``, so a completion that
contains ``<script>`` or ``**bold**`` appears exactly as the model wrote it.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import source

STORE_KEY = "store_path"
FRAME_PX = 90  # room for a title and an axis with its labels
PRODUCE_STORE = ("Produce one with `rlhf-eval eval --run runs/NAME` after training (or "
                 "`rlhf-eval demo` for a complete example), then start the dashboard with "
                 "`rlhf-eval dashboard --run runs/NAME`.")


ROOTS_KEY = "_allowed_store_roots"


def store_path() -> Path:
    """The store chosen for this session (set by ``app.py`` from ``--store`` / the env var).

    The sidebar lets a user type another store path; it is opened only if it lies under the
    folders the app was started for (``--run``/``--store``/``--root``), so a dashboard bound
    to a network address cannot be used to read or label any file on the server."""
    import sys

    if STORE_KEY not in st.session_state:
        st.session_state[STORE_KEY] = str(source.configured_store(sys.argv[1:]))
    if ROOTS_KEY not in st.session_state:
        roots = source.configured_roots(sys.argv[1:])
        # started with no store at all (plain `streamlit run app.py`): the session's first
        # store decides; `rlhf-eval dashboard` always passes the roots explicitly
        st.session_state[ROOTS_KEY] = [str(r) for r in roots] if roots is not None else [
            str(Path(st.session_state[STORE_KEY]).resolve().parent)]
    roots = [Path(r) for r in st.session_state[ROOTS_KEY]]
    try:
        return source.check_under_roots(st.session_state[STORE_KEY], roots)
    except source.OutsideRoots as exc:
        st.error(str(exc))
        st.stop()


def allowed_path(typed: str) -> Path:
    """A file/folder path typed on a page (a correlation table, an RM evaluation), if it lies
    under the folders the app was started for (else stop). Only enforced when the process was
    given them (``rlhf-eval dashboard`` always does); a bare ``streamlit run app.py`` on one's
    own machine reads what its user types."""
    import sys

    roots = source.configured_roots(sys.argv[1:])
    if roots is None:
        return Path(typed)
    try:
        return source.check_under_roots(typed, roots)
    except source.OutsideRoots as exc:
        st.error(str(exc))
        st.stop()


def require_results() -> Path:
    """The store path if it has generations to show; else explain how to get some and stop."""
    path = store_path()
    state = source.store_state(path)
    if not state.exists:
        st.info(f"No results store at `{path}`. {PRODUCE_STORE}")
        st.stop()
    if state.error:
        st.error(f"`{path}` cannot be read as a results store: {state.error}")
        st.stop()
    if not state.has_results:
        st.info(f"The results store `{path}` has no evaluated generations yet "
                f"({state.n_runs} run(s)). {PRODUCE_STORE}")
        st.stop()
    return path


def literal(text: str | None, *, label: str | None = None) -> None:
    """Show untrusted text exactly as written (no Markdown, no HTML)."""
    if label:
        st.caption(label)
    st.code(text if text else "(empty)", language=None, wrap_lines=True)


def pick(label: str, options: list, *, default=None, key: str | None = None, sidebar=False):
    """A selectbox that starts on ``default`` when it is one of the options."""
    where = st.sidebar if sidebar else st
    index = options.index(default) if default in options else 0
    return where.selectbox(label, options, index=index, key=key)


def chart(chart) -> None:
    """``st.altair_chart`` at the chart's own height: Streamlit's default ("content") squeezes
    charts whose y axis is discrete (heatmaps, per-category intervals) to a few pixels."""
    height = getattr(chart, "height", None)
    # Vega-Lite's height is the plot area; Streamlit's is the whole frame (title, axes, labels)
    kwargs = {"height": int(height) + FRAME_PX} if isinstance(height, (int, float)) else {}
    st.altair_chart(chart, width="stretch", **kwargs)
