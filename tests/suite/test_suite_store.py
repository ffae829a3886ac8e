"""The results store: schema, transactions, no duplicates, NULL for missing, read-only mode."""
from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from rlhf_eval.store import (BASELINE, REFERENCES, ResultsStore, StoreError, gen_id_for,
                             open_store, sample_id_for)
from rlhf_eval.testing import FIXTURE_METRICS, REFERENCE_FREE, fixture_store


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return fixture_store(tmp_path_factory.mktemp("fx"))


def _one_gen(store, run="r", ck="checkpoint-1", completion="hello world"):
    store.add_run(run, gen_signature="g")
    store.add_checkpoint(run, ck, step=1, model_hash="h1")
    sid = sample_id_for("p", ["ref"])
    store.add_samples([(sid, "p", ["ref"], {})])
    gid = gen_id_for(run, ck, "h1", sid, "g")
    store.add_generations([{"gen_id": gid, "run": run, "checkpoint": ck, "sample_id": sid,
                            "completion": completion, "gen_signature": "g"}])
    return gid


def test_wal_mode_and_schema_version(tmp_path):
    s = ResultsStore(tmp_path / "a.sqlite")
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    s.conn.commit()
    s.close()
    with pytest.raises(StoreError, match="schema version 99"):
        ResultsStore(tmp_path / "a.sqlite")


def test_not_a_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_text("not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a results store"):
        ResultsStore(bad)
    with pytest.raises(StoreError, match="no results store"):
        ResultsStore(tmp_path / "missing.sqlite", readonly=True)


def test_nan_inf_none_are_null_never_zero(tmp_path):
    s = ResultsStore(tmp_path / "s.sqlite")
    gid = _one_gen(s)
    s.add_scores([(gid, "m_nan", "sig", float("nan")), (gid, "m_inf", "sig", float("inf")),
                  (gid, "m_none", "sig", None), (gid, "m_zero", "sig", 0.0)])
    raw = dict(s.conn.execute("SELECT metric, value FROM scores").fetchall())
    assert raw == {"m_nan": None, "m_inf": None, "m_none": None, "m_zero": 0.0}
    summary = s.checkpoint_summary().set_index("metric")
    assert summary.loc["m_nan", "n_missing"] == 1 and summary.loc["m_nan", "n"] == 0
    assert math.isnan(summary.loc["m_nan", "mean"])
    assert summary.loc["m_zero", "mean"] == 0.0 and summary.loc["m_zero", "n_missing"] == 0


def test_rewrites_never_duplicate(tmp_path):
    s = ResultsStore(tmp_path / "s.sqlite")
    gid = _one_gen(s)
    assert s.add_scores([(gid, "rouge1", "sig", 0.5)]) == 1
    assert s.add_scores([(gid, "rouge1", "sig", 0.9)]) == 0   # first write wins
    _one_gen(s)                                                # same rows again
    assert s.count("generations") == 1 and s.count("scores") == 1 and s.count("samples") == 1
    assert s.add_scores([(gid, "rouge1", "sig2", 0.7)]) == 1   # a new signature is new work
    assert s.done_scores([gid], {"rouge1": "sig"}) == {(gid, "rouge1")}
    assert s.done_scores([gid], {"rouge1": "other"}) == set()


def test_changed_weights_drop_stale_generations(tmp_path):
    s = ResultsStore(tmp_path / "s.sqlite")
    gid = _one_gen(s)
    s.add_scores([(gid, "rouge1", "sig", 0.5)])
    assert s.add_checkpoint("r", "checkpoint-1", step=1, model_hash="h1") is False
    assert s.count("generations") == 1
    assert s.add_checkpoint("r", "checkpoint-1", step=1, model_hash="h2") is True
    assert s.count("generations") == 0 and s.count("scores") == 0


def test_failed_transaction_writes_nothing(tmp_path):
    s = ResultsStore(tmp_path / "s.sqlite")
    gid = _one_gen(s)
    with pytest.raises(RuntimeError):
        with s.transaction() as c:
            c.execute("INSERT INTO scores(gen_id, metric, signature, value, created_at) "
                      "VALUES (?, 'x', 's', 1.0, 't')", (gid,))
            raise RuntimeError("killed mid-batch")
    assert s.count("scores") == 0


def test_readonly_refuses_writes(fx):
    ro = ResultsStore(fx, readonly=True)
    n = ro.count("scores")
    with pytest.raises(StoreError, match="read-only"):
        ro.add_scores([("g", "m", "s", 1.0)])
    with pytest.raises(StoreError, match="read-only"):
        ro.add_pairwise_label(sample_id="s", gen_a="a", gen_b="b", winner="a")
    # and SQLite itself refuses, whatever the caller does with the connection
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.conn.execute("DELETE FROM scores")
    assert ro.count("scores") == n


def test_reader_sees_consistent_snapshot_while_writer_holds_a_transaction(tmp_path):
    path = fixture_store(tmp_path / "s", runs=("a",), n_samples=4, n_pairwise_labels=1)
    w = ResultsStore(path)
    r = ResultsStore(path, readonly=True)
    before = r.count("scores")
    with w.transaction() as c:
        c.execute("DELETE FROM scores")
        assert r.count("scores") == before  # WAL: the reader is not blocked, sees the old data
    assert r.count("scores") == 0


def test_fixture_store_is_complete(fx):
    s = ResultsStore(fx, readonly=True)
    assert list(s.runs()["run"]) == ["ppo-a", "ppo-b"]
    ck = s.checkpoints("ppo-a")
    assert list(ck["checkpoint"]) == [REFERENCES, BASELINE, "checkpoint-100", "checkpoint-200",
                                      "checkpoint-300"]
    assert list(ck["kind"]) == ["references", "baseline", "checkpoint", "checkpoint",
                                "checkpoint"]
    df = s.scores_frame()
    for (run, ckpt), grp in df.groupby(["run", "checkpoint"]):
        expected = REFERENCE_FREE if ckpt == REFERENCES else set(FIXTURE_METRICS)
        assert set(grp["metric"]) == expected, (run, ckpt)
        assert grp.groupby("metric")["sample_id"].nunique().eq(20).all()
    assert df["value"].isna().any()  # a few NULLs on purpose
    wr = s.winrates()
    assert {"baseline", REFERENCES}.issubset(set(wr["baseline"]))
    assert "human" in set(wr["judge"])
    assert ((wr["ci_low"] <= wr["winrate"]) & (wr["winrate"] <= wr["ci_high"])).all()
    assert (s.strengths().query("checkpoint == @BASELINE")["strength"] == 0).all()
    assert len(s.pairwise_labels()) == 12 and len(s.human_judgments()) == 8


def test_summary_matches_pandas_and_scipy_free_bootstrap(fx):
    s = ResultsStore(fx, readonly=True)
    df = s.scores_frame("ppo-a")
    summ = s.checkpoint_summary("ppo-a", seed=3, n_resamples=500)
    row = summ.query("checkpoint == 'checkpoint-300' and metric == 'gold'").iloc[0]
    vals = df.query("checkpoint == 'checkpoint-300' and metric == 'gold'")["value"]
    assert row["mean"] == pytest.approx(vals.mean(skipna=True), abs=1e-12)
    assert row["n"] == vals.notna().sum() and row["n_missing"] == vals.isna().sum()
    # an independent percentile bootstrap with the same seed and draws
    x = vals.dropna().to_numpy()
    rng = np.random.default_rng(3)
    boots = [x[rng.integers(0, len(x), len(x))].mean() for _ in range(500)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)


def test_export_roundtrip(fx, tmp_path):
    s = ResultsStore(fx, readonly=True)
    s.export(tmp_path / "pq")
    s.export(tmp_path / "csv", format="csv")
    pq = pd.read_parquet(tmp_path / "pq" / "scores.parquet")
    csv = pd.read_csv(tmp_path / "csv" / "scores.csv")
    assert len(pq) == len(csv) == s.count("scores")
    frame = pd.read_parquet(tmp_path / "pq" / "scores_frame.parquet")
    assert isinstance(json.loads(frame["references"].iloc[0]), list)
    with pytest.raises(StoreError, match="format"):
        s.export(tmp_path / "x", format="xlsx")


def test_open_store_accepts_folder_or_file(fx):
    assert open_store(fx.parent, readonly=True).path == fx
    assert open_store(fx, readonly=True).path == fx


def test_pairwise_label_validation(tmp_path):
    s = ResultsStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="winner"):
        s.add_pairwise_label(sample_id="s", gen_a="a", gen_b="b", winner="left")
    assert s.add_pairwise_label(sample_id="s", gen_a="a", gen_b="b", winner="tie") == 1


def test_scores_frame_shows_the_latest_signature(tmp_path):
    s = ResultsStore(tmp_path / "s.sqlite")
    gid = _one_gen(s)
    s.add_scores([(gid, "rouge1", "old-settings", 0.1)])
    s.add_scores([(gid, "rouge1", "new-settings", 0.2)])
    assert s.scores_frame()[["signature", "value"]].values.tolist() == [["new-settings", 0.2]]
    assert len(s.scores_frame(latest_signature=False)) == 2
