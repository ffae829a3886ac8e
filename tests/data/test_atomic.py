"""Atomic writes: an exception or a SIGKILL mid-write never leaves a half-written target."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.io import (atomic_dir, atomic_write, atomic_write_json, atomic_write_text,
                          read_records, write_records)
from rlhf_eval.schema import PreferencePair

OLD = [PreferencePair("old", "a", "b")]


def _pairs(n):
    for i in range(n):
        yield PreferencePair(f"p{i}", f"c{i}", f"r{i}")


def _failing(n):
    yield from _pairs(n)
    raise RuntimeError("producer crashed")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("name", ["x.jsonl", "x.jsonl.gz", "x.json", "x.csv", "x.parquet",
                                  "x_saved"])
def test_exception_mid_iteration_leaves_target_absent_or_old(tmp_path, name):
    fmt = "hf" if name == "x_saved" else None
    target = tmp_path / name
    with pytest.raises(RuntimeError, match="producer crashed"):
        write_records(target, _failing(50), format=fmt)
    assert _names(tmp_path) == []  # no target, no temp file
    write_records(target, OLD, format=fmt)
    with pytest.raises(RuntimeError, match="producer crashed"):
        write_records(target, _failing(50), format=fmt)
    assert read_records(target, "pair").records == OLD
    assert _names(tmp_path) == [name]
    # and a successful rewrite replaces the old content completely
    write_records(target, _pairs(3), format=fmt)
    assert read_records(target, "pair").records == list(_pairs(3))
    assert _names(tmp_path) == [name]


def test_atomic_write_exception_inside_the_block(tmp_path):
    target = tmp_path / "t.txt"
    with pytest.raises(ZeroDivisionError):
        with atomic_write(target) as handle:
            handle.write("partial")
            1 / 0
    assert _names(tmp_path) == []
    atomic_write_text(target, "old")
    with pytest.raises(ZeroDivisionError):
        with atomic_write(target, "wb") as handle:
            handle.write(b"partial")
            1 / 0
    assert target.read_text() == "old" and _names(tmp_path) == ["t.txt"]


def test_atomic_write_helpers_and_permissions(tmp_path):
    atomic_write_json(tmp_path / "sub" / "a.json", {"x": [1, 2], "é": "ü"})
    assert json.loads((tmp_path / "sub" / "a.json").read_text(encoding="utf-8")) == {
        "x": [1, 2], "é": "ü"}
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    # same permissions as a file opened the ordinary way (mkstemp alone would give 0600)
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode
    os.chmod(tmp_path / "atomic.txt", 0o600)
    atomic_write_text(tmp_path / "atomic.txt", "y")  # a rewrite keeps the file's permissions
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError, match="NaN|Out of range"):
        atomic_write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists()
    with pytest.raises(ValueError, match="write modes"):
        with atomic_write(tmp_path / "a.txt", "a"):
            pass


def test_atomic_dir_swaps_whole_folders(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "one").write_text("1")
    with pytest.raises(KeyError):
        with atomic_dir(target) as tmp:
            (tmp / "two").write_text("2")
            raise KeyError("boom")
    assert _names(target) == ["one"] and _names(tmp_path) == ["d"]
    with atomic_dir(target) as tmp:
        (tmp / "two").write_text("2")
    assert _names(target) == ["two"] and _names(tmp_path) == ["d"]


# A real process killed with SIGKILL while writing: the target must be the old content.
_KILL_SCRIPT = r"""
import sys, time
from rlhf_eval.io import atomic_write, write_records
from rlhf_eval.schema import PreferencePair
target, mode = sys.argv[1], sys.argv[2]
if mode == "stream":
    # writes forever, one flushed chunk at a time: the kill always lands mid-write
    with atomic_write(target) as handle:
        while True:
            handle.write('{"prompt": "p", "chosen": "partial", "rejected": "r"}\n' * 1000)
            handle.flush()
            print("wrote", flush=True)
            time.sleep(0.005)
else:
    # a large gzip file through write_records (compression makes the write take seconds)
    import random
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    big = [PreferencePair(f"p{i}", " ".join(rng.choices(words, k=200)), f"r{i}")
           for i in range(20000)]
    print("built", flush=True)
    write_records(target, big)
"""


def _kill_while_writing(tmp_path: Path, target: Path, mode: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(target), mode],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() in ("wrote", "built")
        deadline = time.monotonic() + 30
        # wait until the temp file next to the target has data in it, then kill
        while time.monotonic() < deadline and proc.poll() is None:
            temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            if temps and temps[0].stat().st_size > 0:
                break
            time.sleep(0.001)
        else:
            pytest.fail(f"the writer ended (rc={proc.poll()}) before it could be killed mid-write")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return proc.returncode


@pytest.mark.parametrize("mode,name", [("stream", "big.jsonl"), ("records", "big.jsonl.gz")])
def test_sigkill_during_write_leaves_old_content(tmp_path, mode, name):
    target = tmp_path / name
    write_records(target, OLD)
    before = target.read_bytes()
    assert _kill_while_writing(tmp_path, target, mode) == -signal.SIGKILL
    assert target.read_bytes() == before
    assert read_records(target, "pair").records == OLD
    # what is left is a hidden temp file that never had the target's name
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != name]
    assert leftovers and all(n.startswith(f".{name}.") and n.endswith(".tmp") for n in leftovers)


def test_sigkill_before_first_write_leaves_no_target(tmp_path):
    target = tmp_path / "new.jsonl"
    _kill_while_writing(tmp_path, target, "stream")
    assert not target.exists()


def test_convert_error_leaves_no_output(tmp_path, cli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p"}\n')
    out = tmp_path / "out.parquet"
    code, _, err = cli("data", "convert", bad, out, "--kind", "pair")
    assert code == 2 and f"{bad}:2: field 'chosen'" in err
    assert not out.exists() and _names(tmp_path) == ["bad.jsonl"]
    write_records(out, OLD)
    code, _, _ = cli("data", "convert", bad, out, "--kind", "pair")
    assert code == 2 and read_records(out, "pair").records == OLD
    with pytest.raises(DataError):
        read_records(bad, "pair")
