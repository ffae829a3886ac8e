"""A real SIGKILL of `rlhf-eval eval` mid-run, then a re-run: the store is complete, has no
duplicates, and holds exactly the numbers of an uninterrupted run."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from suite_helpers import eval_kwargs, fresh_run
from rlhf_eval.store import ResultsStore

KEY = ["checkpoint", "sample_id", "metric"]
METRICS_HERE = ["length", "kl", "gold"]


def _count(path, table):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_sigkill_mid_run_then_rerun_completes_without_duplicates(evaluated, tiny_world,
                                                                 tmp_path):
    import rlhf_eval

    run = fresh_run({"run": tiny_world["run"]}, tmp_path / "run")
    # cheap metrics: the kill, the resume and the no-duplicate guarantees do not depend on
    # which metrics run, and the comparison below is with the same metrics of the full run
    kw = {**eval_kwargs(tiny_world), "metrics": METRICS_HERE}
    cmd = [sys.executable, "-m", "rlhf_eval.cli", "eval", "--run", str(run), "--prompts",
           kw["prompts"], "--metrics", *kw["metrics"], "--max-new-tokens",
           str(kw["max_new_tokens"]), "--batch-size", "1", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    store = run / "results.sqlite"
    proc = subprocess.Popen(cmd + ["--config", str(_config(tmp_path, kw))], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    # kill as soon as a few generation batches are committed: mid-generation
    while _count(store, "generations") < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = _count(store, "generations")
    done = ResultsStore(evaluated["store"], readonly=True)
    assert 0 < partial < done.count("generations")

    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    df = rlhf_eval.evaluate(run, **kw)
    assert df.attrs["report"]["generated"] == done.count("generations") - (
        partial + _n_refs(done))

    s = ResultsStore(store, readonly=True)
    for table in ("generations", "samples", "checkpoints"):
        assert s.count(table) == done.count(table), table
    names = set(s.scores_frame()["metric"])
    assert names == {"length", "length_chars", "kl", "gold", "gold_coverage", "gold_invented",
                     "gold_brevity"}
    n_scores = s.conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    n_unique = s.conn.execute("SELECT COUNT(*) FROM (SELECT DISTINCT g.checkpoint, "
                              "g.sample_id, sc.metric FROM scores sc JOIN generations g "
                              "USING (gen_id))").fetchone()[0]
    assert n_scores == n_unique  # no duplicate score for any (checkpoint, sample, metric)
    got = s.scores_frame().set_index(KEY).sort_index()
    want = done.scores_frame()
    want = want[want["metric"].isin(names)].set_index(KEY).sort_index()
    assert not got.index.duplicated().any()
    assert got.index.equals(want.index)
    # same completions and the same numbers as the uninterrupted run
    assert (got["completion"] == want["completion"]).all()
    assert got["value"].fillna(-999).to_numpy() == __import__("pytest").approx(
        want["value"].fillna(-999).to_numpy(), abs=1e-9)


def _n_refs(store):
    return int(store.conn.execute("SELECT COUNT(*) FROM generations WHERE checkpoint = "
                                  "'references'").fetchone()[0])


def _config(tmp_path, kw):
    path = tmp_path / "eval.yaml"
    path.write_text(f"max_prompt_tokens: {kw['max_prompt_tokens']}\n"
                    f"n_bootstrap: {kw['n_bootstrap']}\n")
    return path
