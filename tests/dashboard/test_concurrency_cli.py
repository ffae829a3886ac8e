"""Two annotators labeling at once lose nothing (two processes, one SQLite file), and the
`rlhf-eval dashboard` command line."""
from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys

import pytest

from rlhf_eval.commands import dashboard as cmd
from rlhf_eval.dashboard import labeling, source
from rlhf_eval.store import ResultsStore

N_EACH = 25


def _annotate(path: str, annotator: str, start, items: list[tuple]) -> None:
    """One annotator's process: wait for the start signal, then label every item at once,
    each label its own transaction, exactly as the Label page's button does."""
    start.wait(timeout=30)
    for k, (run, sid, gen_a, gen_b) in enumerate(items):
        source.submit_label(path, run=run, sample_id=sid, gen_a=gen_a, gen_b=gen_b,
                            winner=("a", "b", "tie")[k % 3], annotator=annotator,
                            note=f"{annotator}-{k}", shown_left=gen_a)


def test_two_annotators_writing_at_once_lose_nothing(writable_store):
    with ResultsStore(writable_store, readonly=True) as store:
        gens = labeling.generations(store.scores_frame("ppo-a"))
        before = len(store.pairwise_labels())
    items = [(i.run, i.sample_id, i.gen_a, i.gen_b) for i in labeling.label_items(
        gens, run="ppo-a", checkpoint_a="baseline", checkpoint_b="checkpoint-300")]
    items = (items * 3)[:N_EACH]
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_annotate, args=(str(writable_store), name, start, items))
             for name in ("ann-x", "ann-y")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    with ResultsStore(writable_store, readonly=True) as store:
        labels = store.pairwise_labels()
    assert len(labels) == before + 2 * N_EACH
    for name in ("ann-x", "ann-y"):
        notes = set(labels.loc[labels["annotator"] == name, "note"])
        assert notes == {f"{name}-{k}" for k in range(N_EACH)}
    assert labels["id"].is_unique


def test_two_threads_in_one_server_lose_nothing(writable_store):
    """Streamlit serves every browser session from threads of one process."""
    import threading

    with ResultsStore(writable_store, readonly=True) as store:
        before = len(store.pairwise_labels())
    barrier = threading.Barrier(2)
    errors = []

    def work(name):
        try:
            barrier.wait()
            for k in range(N_EACH):
                source.submit_label(writable_store, run="ppo-a", sample_id="s", gen_a="g1",
                                    gen_b="g2", winner="tie", annotator=name, note=str(k))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with ResultsStore(writable_store, readonly=True) as store:
        assert len(store.pairwise_labels()) == before + 2 * N_EACH


def test_submit_label_needs_an_annotator(writable_store):
    with pytest.raises(ValueError, match="annotator"):
        source.submit_label(writable_store, run="r", sample_id="s", gen_a="a", gen_b="b",
                            winner="a", annotator="  ")


def _args(*argv):
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    return p.parse_args(list(argv))


def test_command_binds_localhost_and_passes_the_store(tmp_path):
    argv, env, store = cmd.build_command(_args("--run", str(tmp_path)))
    assert store == (tmp_path / "results.sqlite").resolve()
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.port") + 1] == "8501"
    assert argv[-2:] == ["--store", str(store)] and env[source.ENV_STORE] == str(store)
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("dashboards/app.py")
    argv, _, store = cmd.build_command(_args("--store", str(tmp_path / "x.sqlite"), "--host",
                                             "0.0.0.0", "--port", "9000", "--headless"))
    assert store.name == "x.sqlite" and "0.0.0.0" in argv and "9000" in argv
    assert argv[argv.index("--server.headless") + 1] == "true"


def test_the_app_reads_the_store_from_args_or_environment(tmp_path):
    assert source.configured_store(["--store", "a.sqlite"], {}) == source.Path("a.sqlite")
    assert source.configured_store([], {source.ENV_STORE: str(tmp_path)}) == \
        tmp_path / "results.sqlite"
    assert source.configured_store(["--run", "runs/x"], {source.ENV_STORE: "other"}) == \
        source.Path("runs/x/results.sqlite")
    assert source.configured_store([], {}) == source.DEFAULT_STORE


@pytest.mark.parametrize("argv,message", [
    (["--port", "0"], "--port: expected 1-65535"),
    (["--store", "a", "--run", "b"], "not allowed with"),
])
def test_cli_usage_errors_exit_2(argv, message):
    out = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "dashboard", *argv,
                          "--print-command"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr


def test_cli_print_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "dashboard", "--run",
                          str(tmp_path), "--print-command"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "streamlit run" in out.stdout and "--server.address 127.0.0.1" in out.stdout
