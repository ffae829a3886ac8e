"""Correlations: which automatic metric tracks human judgment, at which level."""
from pathlib import Path

import streamlit as st

from rlhf_eval.dashboard import cached, charts, labeling, source, widgets
from rlhf_eval.dashboard import correlations as C
from rlhf_eval.errors import RlhfEvalError

st.title("Correlations")
path = widgets.store_path()
state = source.store_state(path)
folders = [path.parent]
if state.has_results:
    folders += [Path(p) for p in cached.table(path, "runs")["path"].dropna()]
precomputed = C.find_precomputed(folders)

SOURCES = {"summeval": "SummEval (bundled, scored here)",
           "file": "Precomputed (`rlhf-eval correlate --out DIR`)",
           "store": "This store's human judgments"}
options = (["file"] if precomputed else []) + ["summeval"] \
    + (["store"] if state.has_results else []) + ([] if precomputed else ["file"])
origin = st.radio("Data", options, format_func=SOURCES.get, horizontal=True)
level = st.selectbox("Level", ["system", "summary", "sample"],
                     help="summary: per input across systems, averaged; system: per-system "
                          "means; sample: all cells pooled (Deutsch et al. 2021)")
method = st.selectbox("Method", ["kendall", "spearman", "pearson"])
table, metrics, aspects, id_col = None, [], [], "doc_id"
matrix, pairwise = None, None

if origin == "file":
    typed = st.text_input("correlations.json / .csv (or its folder)",
                          value=str(precomputed[0]) if precomputed else "")
    if typed and typed != (str(precomputed[0]) if precomputed else ""):
        typed = str(widgets.allowed_path(typed))  # only the app's folders may be read
    found = C.find_precomputed([typed]) if typed and Path(typed).is_dir() else \
        ([Path(typed)] if typed and Path(typed).is_file() else [])
    if not found:
        st.info("No precomputed correlation table here. Write one with `rlhf-eval correlate "
                "--summeval --metrics rouge,bleu,chrf,bertscore --pairwise --out DIR` (or "
                "`--table FILE` / `--lab DIR`) and enter DIR above.")
    else:
        try:
            every = cached.correlation_file(found[0])
            pairwise = C.read_pairwise_table(found[0])
        except RlhfEvalError as exc:
            st.error(str(exc))
            every = None
        if every is not None:
            matrix = every[(every["level"] == level) & (every["method"] == method)]
            if matrix.empty:
                st.info(f"`{found[0]}` has no {level}-level {method} correlations; pick another "
                        "level or method, or rerun `rlhf-eval correlate` with them.")
elif origin == "summeval":
    n_docs = st.slider("SummEval documents (16 system summaries each)", 5, 100, 20, step=5)
    picked = st.multiselect("Metrics", list(C.FAST_METRICS) + list(C.SLOW_METRICS),
                            default=list(C.FAST_METRICS),
                            help="BERTScore over all 100 documents takes about 2 min on a CPU, "
                                 "MoverScore a few minutes; gptscore/bartscore run SmolLM2 "
                                 "(`make models`): minutes per document on a CPU")
    cache_dir = str(path.parent / ".cache" / "summeval") if path.parent.is_dir() else None
    if st.button("Score SummEval", type="primary") or st.session_state.get("summeval_done"):
        st.session_state["summeval_done"] = True
        with st.spinner("Scoring SummEval (cached after the first time)..."):
            try:
                table, metrics = cached.summeval_scored(n_docs, tuple(picked), cache_dir)
            except RlhfEvalError as exc:
                st.error(str(exc))
        aspects = list(C.SUMMEVAL_ASPECTS)
    else:
        st.info("SummEval's 1,600 summaries come with expert ratings of coherence, consistency, "
                "fluency and relevance. Press **Score SummEval** to score the chosen documents "
                "with the chosen metrics (ROUGE/BLEU/chrF: a few seconds per 20 documents), or "
                "precompute everything with `rlhf-eval correlate --summeval --out DIR`.")
else:
    table, metrics, aspects = C.store_human_table(cached.table(path, "scores_frame"),
                                                  cached.table(path, "human_judgments"))
    id_col = "sample_id"
    if table.empty:
        st.info("No human judgments in this store: collect pairwise labels on the Label page "
                "(compared below), or import ratings with `rlhf-eval data`.")
        table = None

if table is not None and metrics and aspects:
    try:
        matrix = cached.correlation_matrix(table, tuple(metrics), tuple(aspects), level, method,
                                           id_col, "system", 200)
    except RlhfEvalError as exc:
        st.error(str(exc))

if matrix is not None and not matrix.empty:
    st.subheader(f"{method} correlation, {level} level")
    widgets.chart(charts.correlation_heatmap(matrix))
    with st.expander("Table"):
        st.dataframe(matrix, hide_index=True)

if table is not None and metrics and aspects:
    st.subheader("One metric against one aspect")
    c1, c2 = st.columns(2)
    with c1:
        x = st.selectbox("Metric", metrics)
    with c2:
        y = st.selectbox("Aspect", aspects)
    widgets.chart(charts.scatter(table, x, y))
    if matrix is not None:
        row = matrix[(matrix["metric"] == x) & (matrix["aspect"] == y)]
        if not row.empty:
            r = row.iloc[0]
            st.caption(f"{method} ({level} level) = {r['value']:.3f}, 95% CI "
                       f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}], n = {int(r['n'])}"
                       if r["value"] == r["value"] else f"undefined: {r.get('note', '')}")
    if origin == "summeval":
        with st.spinner("Pairwise agreement..."):
            pairwise = cached.summeval_pairwise(table[["doc_id", "system", *metrics,
                                                       *aspects]], tuple(metrics),
                                                tuple(aspects))

if pairwise is not None and not pairwise.empty:
    st.subheader("Pairwise agreement with human choices")
    st.caption("How often the metric scores the human-preferred output higher (human ties "
               "left out, metric ties count as misses). SummEval keeps only the experts' mean "
               "rating, so its choices are derived from it and no inter-annotator ceiling is "
               "known; `(inter-annotator)` rows are that ceiling where it is.")
    st.dataframe(pairwise, hide_index=True)

st.subheader("Agreement with this store's pairwise labels")
labels = cached.table(path, "pairwise_labels") if state.has_results else None
if labels is None or labels.empty:
    st.info("No pairwise labels yet: collect them on the Label page; each metric is then "
            "scored by how often it prefers the completion the annotators preferred.")
else:
    directions = {m: v for m, v in cached.table(path, "directions").items() if v is not None}
    agree = C.pairwise_metric_agreement(labeling.latest_labels(labels),
                                        cached.table(path, "scores_frame"), directions,
                                        n_resamples=500)
    ceiling = labeling.agreement(labels)
    st.dataframe(agree, hide_index=True)
    st.caption("Annotator ceiling (how often annotators agree with each other on pairs "
               f"labeled by two or more): {ceiling['percent']:.0%} over {ceiling['n_items']} "
               "pairs" if ceiling["n_items"] else
               "Annotator ceiling: needs pairs labeled by two or more annotators.")
