"""Bad endpoints against real local sockets (an http.server stub, a closed port): each is a
one-line error naming the URL and the cause, exit 2, and nothing half-written."""
from __future__ import annotations

import sqlite3

import pytest

from engine_helpers import Stub, free_port, openai_like, unauthorized
from rlhf_eval.cli import main
from rlhf_eval.lm.generate import GenerationSettings
from rlhf_eval.lm.engines import EngineError, ModelRef, get_engine


def _eval(world, tmp_path, url, *extra):
    store = tmp_path / "r.sqlite"
    argv = ["eval", "--engine", "openai", "--base-url", url, "--baseline-model", world["sft"],
            "--prompts", world["prompts"], "--store", str(store), "--metrics", "length",
            "--max-new-tokens", "8", "--batch-size", "4", "--no-progress",
            "--max-retries", "1", "--request-timeout", "5", *extra]
    return main(argv), store


def _generations(store) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as c:
        return c.execute("SELECT COUNT(*) FROM generations").fetchone()[0]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1, err
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def test_refused_connection(world, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"   # nothing listens there
    rc, store = _eval(world, tmp_path, url)
    assert rc == 2
    _one_line_error(capsys, url, "connection refused")
    assert _generations(store) == 0


def test_wrong_url_is_a_404(world, tmp_path, capsys):
    stub = Stub(openai_like(models=(world["sft"],)))
    try:
        url = stub.url.replace("/v1", "/wrong")
        rc, store = _eval(world, tmp_path, url)
    finally:
        stub.close()
    assert rc == 2
    _one_line_error(capsys, url, "HTTP 404", "/v1")
    assert _generations(store) == 0


def test_unauthorized(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_KEY", "wrong")
    stub = Stub(unauthorized)
    try:
        rc, store = _eval(world, tmp_path, stub.url, "--api-key-env", "MY_KEY")
    finally:
        stub.close()
    assert rc == 2
    _one_line_error(capsys, stub.url, "HTTP 401", "$MY_KEY")
    assert stub.calls == ["GET /v1/models"]   # a 401 is not retried
    assert _generations(store) == 0


def test_unknown_model_names_the_served_ones(world, tmp_path, capsys):
    stub = Stub(openai_like(models=("other-model",)))
    try:
        rc, store = _eval(world, tmp_path, stub.url)
    finally:
        stub.close()
    assert rc == 2
    _one_line_error(capsys, stub.url, "is not served", "'other-model'")
    assert _generations(store) == 0


def test_server_dying_mid_run_keeps_whole_batches_and_rerun_completes(world, tmp_path,
                                                                      capsys):
    n = len(world["samples"])
    stub = Stub(openai_like(models=(world["sft"],)), die_after=6)   # 1.5 batches of 4
    try:
        rc, store = _eval(world, tmp_path, stub.url, "--concurrency", "1")
    finally:
        stub.close()
    assert rc == 2
    _one_line_error(capsys, stub.url, "connection refused")
    assert _generations(store) == 4            # the whole first batch, nothing of the second
    healthy = Stub(openai_like(models=(world["sft"],)))
    try:
        rc, _ = _eval(world, tmp_path, healthy.url)
    finally:
        healthy.close()
    assert rc == 0
    with sqlite3.connect(store) as c:
        rows = c.execute("SELECT sample_id, COUNT(*) FROM generations WHERE checkpoint="
                         "'baseline' GROUP BY sample_id").fetchall()
    assert len(rows) == n and all(k == 1 for _, k in rows)
    assert sum(1 for c in healthy.calls if c.endswith("/completions")) == n - 4


def test_retries_with_backoff_then_succeeds():
    stub = Stub(openai_like(models=("m",), fail_first=2, fail_status=503))
    eng = get_engine("openai", base_url=stub.url, max_retries=3, backoff=0.01)
    try:
        eng.check(ModelRef("m", None, "m"))
        assert stub.calls == ["GET /v1/models"] * 3 and eng.requests == 3
        out = eng.generate(ModelRef("m", None, "m"), ["a", "b"], ["1", "2"],
                           GenerationSettings(max_new_tokens=4))
        assert [o.text for o in out] == ["stub completion"] * 2
    finally:
        eng.close()
        stub.close()


def test_retries_exhausted_and_timeout_are_one_line():
    stub = Stub(openai_like(models=("m",), fail_first=99, fail_status=503))
    eng = get_engine("openai", base_url=stub.url, max_retries=2, backoff=0.01)
    with pytest.raises(EngineError, match=r"^openai engine at .*: HTTP 503 on GET /models"):
        eng.check(ModelRef("m", None, "m"))
    assert len(stub.calls) == 3
    eng.close()
    stub.close()
    slow = Stub(openai_like(models=("m",), sleep=2.0))
    eng = get_engine("openai", base_url=slow.url, max_retries=0, timeout=0.5)
    with pytest.raises(EngineError, match="within the timeout") as e:
        eng.check(ModelRef("m", None, "m"))
    assert slow.url in str(e.value) and "\n" not in str(e.value)
    eng.close()
    slow.close()


def test_concurrency_limit_is_respected():
    import threading
    import time

    live, peak, lock = [0], [0], threading.Lock()
    base = openai_like(models=("m",))

    def handler(method, path, body):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return base(method, path, body)

    stub = Stub(handler)
    eng = get_engine("openai", base_url=stub.url, concurrency=3)
    try:
        eng.generate(ModelRef("m", None, "m"), ["p"] * 12, [str(k) for k in range(12)],
                     GenerationSettings(max_new_tokens=2))
    finally:
        eng.close()
        stub.close()
    assert 2 <= peak[0] <= 3


def test_served_checkpoint_needs_openai_engine(world, tmp_path, capsys):
    rc = main(["eval", "--checkpoint", "big=some/model", "--baseline-model", world["sft"],
               "--prompts", world["prompts"], "--store", str(tmp_path / "r.sqlite"),
               "--metrics", "length"])  # no other problem (reward would need --reward-model)
    assert rc == 2
    _one_line_error(capsys, "big=some/model", "engine: openai")
