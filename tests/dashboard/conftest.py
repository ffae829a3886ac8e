"""Fixtures for the dashboard tests (helpers in :mod:`dashboard_helpers`)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dashboard_helpers import build_store
from rlhf_eval.store import ResultsStore


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("dash")).parent


@pytest.fixture(scope="session")
def small_store(tmp_path_factory) -> Path:
    """Fewer prompts and checkpoints: the served app computes its summary from scratch in
    another process, and the browser test only needs something to draw."""
    return build_store(tmp_path_factory.mktemp("small"), n_samples=6, steps=(100, 200))


@pytest.fixture(scope="session")
def store_path(store_dir) -> Path:
    return store_dir / "results.sqlite"


@pytest.fixture()
def writable_store(tmp_path, store_path) -> Path:
    """A private copy of the fixture store, for tests that write labels."""
    import sqlite3

    dst = tmp_path / "results.sqlite"
    src = sqlite3.connect(store_path)
    out = sqlite3.connect(dst)
    src.backup(out)  # consistent copy, WAL included
    src.close()
    out.close()
    return dst


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("empty") / "results.sqlite"
    ResultsStore(path).close()
    return path
