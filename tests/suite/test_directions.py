"""The store records each score's direction from its Metric; report, gates, the fixture store
and the dashboard read it from there instead of guessing from names."""
from __future__ import annotations

import sqlite3

import pytest

from rlhf_eval.store import ResultsStore


def test_directions_round_trip_and_last_write_wins(tmp_path):
    with ResultsStore(tmp_path / "s.sqlite") as s:
        assert s.directions() == {}
        s.set_directions({"rougeL": True, "kl": None, "rep_2": False})
        s.set_directions({"rougeL": False})
        assert s.directions() == {"rougeL": False, "kl": None, "rep_2": False}
    assert ResultsStore(tmp_path / "s.sqlite", readonly=True).directions()["kl"] is None


def test_a_store_from_before_directions_reads_as_none_recorded(tmp_path):
    path = tmp_path / "old.sqlite"
    ResultsStore(path).close()
    con = sqlite3.connect(path)  # a store written before the table existed
    con.execute("DROP TABLE score_directions")
    con.commit()
    con.close()
    assert ResultsStore(path, readonly=True).directions() == {}


def test_the_suite_records_what_each_metric_declares(evaluated):
    from rlhf_eval.evaluation.metrics import get_metric

    got = ResultsStore(evaluated["store"], readonly=True).directions()
    for name in ("rouge", "bleu", "length", "repetition", "gold"):
        for score, hib in get_metric(name).higher_is_better.items():
            assert got[score] is hib, score
    assert got["kl"] is None and got["rep_2"] is False and got["rougeL"] is True


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from rlhf_eval.testing import fixture_store

    return fixture_store(tmp_path_factory.mktemp("directions"), runs=("r",), steps=(10,),
                         n_samples=8)


def test_gates_take_the_direction_from_the_store(small_store):
    from rlhf_eval.report import gate_directions
    from rlhf_eval.testing import FIXTURE_METRICS

    store = ResultsStore(small_store, readonly=True)
    assert store.directions() == FIXTURE_METRICS
    dirs = gate_directions(store.directions(), ["gold", "rep_2", "kl", "never_recorded"])
    # a diagnostic (kl) gates as lower-is-better; an unrecorded name as higher-is-better
    assert dirs == {"gold": True, "rep_2": False, "kl": False, "never_recorded": True}


def test_report_gate_follows_the_recorded_direction(small_store, tmp_path):
    """Completions get longer with the step: once the store says length is lower-is-better, a
    drop gate on it fails (the old name list called length higher-is-better: a pass)."""
    import shutil

    from rlhf_eval.report import build_report_data

    path = tmp_path / "results.sqlite"
    shutil.copy(small_store, path)  # the fixture closed its store: no WAL left behind
    with ResultsStore(path) as s:
        s.set_directions({"length": False})
    data = build_report_data(store_path=path, run_name="r", gate_specs=["length:drop>0.5"])
    assert not data.gates[0].passed
    assert data.gates[0].value > data.gates[0].baseline_value  # longer, i.e. worse here
