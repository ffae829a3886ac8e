"""Fixtures of the fault tests (issue 19): a copy of the synthetic results store per test."""
from __future__ import annotations

import pytest

from rlhf_eval.testing import fixture_store


@pytest.fixture(scope="session")
def store_template(tmp_path_factory):
    return fixture_store(tmp_path_factory.mktemp("faults-store") / "results.sqlite",
                         runs=("ppo-a",))


KEEP = ("gold", "reward", "kl")  # fewer metrics: each report bootstraps every one of them


@pytest.fixture(scope="session")
def lean_template(store_template):
    import shutil
    import sqlite3

    lean = store_template.with_name("lean.sqlite")
    shutil.copy(store_template, lean)
    con = sqlite3.connect(lean)
    with con:
        con.execute(f"DELETE FROM scores WHERE metric NOT IN ({','.join('?' * len(KEEP))})",
                    KEEP)
    con.execute("VACUUM")
    con.close()
    return lean


@pytest.fixture
def run_dir(lean_template, tmp_path):
    """A run folder holding a copy of the fixture store (scores of gold, reward, kl only)."""
    import shutil

    run = tmp_path / "ppo-a"
    run.mkdir()
    shutil.copy(lean_template, run / "results.sqlite")
    return run
