"""Session fixtures of the suite tests; the helpers live in ``suite_helpers``."""
from __future__ import annotations

from pathlib import Path

import pytest

from suite_helpers import build_world, eval_kwargs, fresh_run


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("suite_world"))


@pytest.fixture(scope="session")
def evaluated(tiny_world, tmp_path_factory):
    """One complete evaluation of the tiny run (the reference for the re-run/kill tests)."""
    import rlhf_eval

    run = fresh_run(tiny_world, tmp_path_factory.mktemp("evaluated") / "run")
    df = rlhf_eval.evaluate(run, **eval_kwargs(tiny_world))
    return {"run": run, "summary": df, "store": Path(df.attrs["store"]),
            "report": df.attrs["report"]}
