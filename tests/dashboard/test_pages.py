"""Every page renders through Streamlit's AppTest against the fixture store, an empty store
and a missing one; widgets change what is shown; labels are written and survive a restart;
untrusted text is displayed literally."""
import json

import pytest

from rlhf_eval.store import ResultsStore

from dashboard_helpers import HOSTILE, HOSTILE_PROMPT, app_test

PAGES = [None, "correlations", "samples", "reward_model", "label"]


def by_label(widgets, label):
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r}; have {[w.label for w in widgets]}"
    return found[0]


def charts(at):
    return [json.loads(e.proto.spec) for e in at.main if type(e).__name__ == "UnknownElement"
            and e.type == "vega_lite_chart"]


def chart_titles(at):
    return [c.get("title") for c in charts(at)]


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_fixture_store(store_path, page):
    at = app_test(store_path, page)
    assert_clean(at)
    assert at.title[0].value == {None: "Runs", "correlations": "Correlations",
                                 "samples": "Samples", "reward_model": "Reward model",
                                 "label": "Label"}[page]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("which", ["empty", "missing"])
def test_pages_explain_how_to_get_data(empty_store, tmp_path, page, which):
    store = empty_store if which == "empty" else tmp_path / "nowhere" / "results.sqlite"
    at = app_test(store, page)
    assert not at.exception, [e.value for e in at.exception]
    notices = " ".join(i.value for i in at.info)
    assert "rlhf-eval" in notices, notices  # says which command produces the data
    assert not (tmp_path / "nowhere").exists()  # reading never creates a store


def test_runs_page_charts_follow_the_widgets(store_path):
    at = app_test(store_path)
    assert "reward by checkpoint" in chart_titles(at)
    by_label(at.selectbox, "Metric").set_value("rougeL").run()
    assert "rougeL by checkpoint" in chart_titles(at)
    assert_clean(at)
    before = json.dumps(charts(at))
    by_label(at.multiselect, "Runs (overlaid)").set_value(["ppo-b"]).run()
    assert json.dumps(charts(at)) != before
    assert_clean(at)


def test_runs_page_fits_the_ppo_log(store_path):
    at = app_test(store_path)
    radio = by_label(at.radio, "Points from")
    assert "training log (metrics.jsonl)" in radio.options
    radio.set_value("training log (metrics.jsonl)").run()
    assert_clean(at)
    by_label(at.selectbox, "Fit the curve to run").set_value("ppo-a").run()
    values = {m.label: m.value for m in at.metric}
    a = float(values["a"].split(" ")[0])
    b = float(values["b"].split(" ")[0])
    assert a == pytest.approx(1.0, abs=0.05) and b == pytest.approx(0.5, abs=0.05)
    assert "gold vs proxy reward against sqrt(KL)" in chart_titles(at)


def _code_values(at):
    return [c.value for c in at.code]


def test_samples_page_shows_hostile_text_literally(store_path):
    at = app_test(store_path, "samples")
    assert_clean(at)
    # default order = reward-hacking suspects: the hostile completion is the only one
    assert HOSTILE in _code_values(at) and HOSTILE_PROMPT in _code_values(at)
    for block in at.code:
        assert not block.language or block.language in ("", "text", "plaintext")
    rendered = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any("<script>" in r or "not bold" in r for r in rendered)


def test_samples_page_ordering_and_filter(store_path):
    at = app_test(store_path, "samples")
    by_label(at.radio, "Order samples by").set_value("Largest drop in a metric").run()
    by_label(at.selectbox, "Metric").set_value("reward").run()
    first = at.dataframe[0].value
    assert first["delta:reward"].is_monotonic_increasing  # biggest fall first
    by_label(at.selectbox, "Metric").set_value("rougeL").run()
    assert at.dataframe[0].value["delta:rougeL"].is_monotonic_increasing
    by_label(at.text_input, "Filter: prompt or completion contains").set_value("not bold").run()
    assert len(at.dataframe[0].value) == 1 and HOSTILE in _code_values(at)
    assert_clean(at)


def _labels(path, run=None):
    with ResultsStore(path, readonly=True) as store:
        return store.pairwise_labels(run)


def test_labeling_writes_at_once_and_survives_a_restart(writable_store):
    before = len(_labels(writable_store))
    before_run = len(_labels(writable_store, "ppo-a"))
    at = app_test(writable_store, "label")
    assert_clean(at)
    by_label(at.selectbox, "against").set_value("checkpoint-200").run()
    by_label(at.text_input, "Your name (annotator)").set_value("carol").run()
    shown = _code_values(at)[1:3]  # left, right
    note = [t for t in at.text_input if t.label == "Note (optional)"][0]
    note.set_value("left is terse").run()
    [b for b in at.button if b.label == "Left is better"][0].click().run()
    assert_clean(at)
    labels = _labels(writable_store)
    assert len(labels) == before + 1  # written at once, before any other action
    new = labels.iloc[-1]
    assert (new["annotator"], new["note"]) == ("carol", "left is terse")
    left_text = shown[0]
    with ResultsStore(writable_store, readonly=True) as store:
        gens = store.generations(new["run"]).set_index("gen_id")["completion"]
    assert gens[new["shown_left"]] == left_text
    chosen = new["gen_a"] if new["winner"] == "a" else new["gen_b"]
    assert chosen == new["shown_left"]  # "left is better" stored as the generation on the left
    assert any("Saved" in s.value for s in at.success)

    # a fresh app (a restart) sees the label and moves on to the next pair
    again = app_test(writable_store, "label")
    by_label(again.selectbox, "against").set_value("checkpoint-200").run()
    by_label(again.text_input, "Your name (annotator)").set_value("carol").run()
    assert_clean(again)
    assert "1 of" in again.get("progress")[0].proto.text
    assert _code_values(again)[1:3] != shown
    assert any(m.label == "labels" and m.value == str(before_run + 1) for m in again.metric)


def test_correlations_page_scores_summeval_and_switches_level(store_path):
    at = app_test(store_path, "correlations")
    by_label(at.radio, "Data").set_value("summeval").run()
    by_label(at.slider, "SummEval documents (16 system summaries each)").set_value(5).run()
    by_label(at.multiselect, "Metrics").set_value(["chrf"]).run()
    [b for b in at.button if b.label == "Score SummEval"][0].click().run(timeout=120)
    assert_clean(at)
    heat = charts(at)
    assert heat and any("kendall" in s.value for s in at.subheader)
    by_label(at.selectbox, "Method").set_value("pearson").run(timeout=60)
    assert any("pearson correlation" in s.value for s in at.subheader)
    assert json.dumps(charts(at)) != json.dumps(heat)
    assert any("pearson" in c.value for c in at.caption)  # scatter caption with its CI
    assert_clean(at)


def test_correlations_page_on_store_judgments_and_labels(store_path):
    at = app_test(store_path, "correlations")
    by_label(at.radio, "Data").set_value("store").run()
    by_label(at.selectbox, "Level").set_value("sample").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("pairwise labels" in s.value for s in at.subheader)
    assert len(at.dataframe) >= 1  # metric-vs-human pairwise agreement table


def test_reward_model_page_reads_eval_rm_output(store_dir):
    at = app_test(store_dir / "results.sqlite", "reward_model")
    assert_clean(at)
    result = json.loads((store_dir / "rm" / "eval" / "rm_eval.json").read_text())
    acc = [m for m in at.metric if m.label == "accuracy"][0]
    assert acc.value == f"{result['accuracy']['value']:.3f}"
    titles = chart_titles(at)
    assert "calibration" in titles and "accuracy per category" in titles
    by_label(at.radio, "Accuracy per").set_value("category").run()
    by_label(at.text_input, "Folder with rm_eval.json (the --out of `rlhf-eval eval-rm`)") \
        .set_value(str(store_dir / "missing")).run()
    assert any("rm_eval.json" in e.value for e in at.error)


def test_correlations_page_reads_a_precomputed_folder(store_path, tmp_path):
    rows = [{"metric": m, "aspect": a, "level": "system", "method": "kendall", "value": v,
             "ci_low": v - 0.1, "ci_high": v + 0.1, "n": 16}
            for m, v in (("rouge1", 0.3), ("chrf", 0.5)) for a in ("coherence", "relevance")]
    (tmp_path / "correlations.json").write_text(json.dumps(
        {"correlations": rows, "pairwise_agreement": [
            {"metric": "(inter-annotator)", "aspect": "relevance", "agreement": 0.7}]}))
    at = app_test(store_path, "correlations")
    by_label(at.radio, "Data").set_value("file").run()
    by_label(at.text_input, "correlations.json / .csv (or its folder)").set_value(
        str(tmp_path)).run()
    assert_clean(at)
    heat = charts(at)
    assert heat and any("kendall correlation, system level" in s.value for s in at.subheader)
    assert any("(inter-annotator)" in df.value["metric"].tolist() for df in at.dataframe
               if "metric" in df.value)
    by_label(at.selectbox, "Level").set_value("sample").run()
    assert any("no sample-level kendall" in i.value for i in at.info)


def test_annotator_name_comes_from_the_url(writable_store):
    from streamlit.testing.v1 import AppTest

    from dashboard_helpers import APP

    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["store_path"] = str(writable_store)
    at.query_params["annotator"] = "dana"
    at.switch_page("views/label.py").run()
    assert_clean(at)
    assert by_label(at.text_input, "Your name (annotator)").value == "dana"
    assert any(b.label == "Tie" for b in at.button)  # ready to label, no name to type
