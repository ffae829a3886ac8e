import sqlite3

import pytest

from rlhf_eval.testing import fixture_store


def _shift_scores(store_path, checkpoint, metric, delta):
    """Make one checkpoint better (delta > 0) or worse (delta < 0) on one metric, in place."""
    con = sqlite3.connect(store_path)
    with con:
        con.execute("UPDATE scores SET value = value + ? WHERE metric = ? AND gen_id IN "
                    "(SELECT gen_id FROM generations WHERE checkpoint = ?)",
                    (delta, metric, checkpoint))
    con.close()


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "ppo-a"
    run.mkdir(parents=True)
    fixture_store(run / "results.sqlite", runs=("ppo-a",))
    (run / "run.json").write_text('{"name": "ppo-a", "seed": 7, "config": {"lr": 1e-5}}')
    rows = [f'{{"step": {s}, "objective/kl": {0.1 * s}, "objective/scores": {0.01 * s}, '
            f'"objective/gold": {0.01 * s - 0.0001 * s * s}}}' for s in range(1, 31)]
    (run / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    return run


@pytest.fixture
def shift_scores():
    """Make one checkpoint better (delta > 0) or worse (delta < 0) on one metric, in place."""
    return _shift_scores
