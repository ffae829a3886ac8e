"""The thread policy (rlhf_eval.threads) as `eval` uses it: --threads N is what torch runs
generation with, and the choice is recorded with the run in the store."""
from __future__ import annotations

import json

import pytest
import torch

from rlhf_eval.errors import ConfigError
from rlhf_eval.threads import resolve_threads
from suite_helpers import eval_kwargs, fresh_run


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_eval_threads_1_runs_torch_with_one_thread_and_records_it(tiny_world, tmp_path,
                                                                   monkeypatch,
                                                                   restore_threads):
    from rlhf_eval import cli
    from rlhf_eval.evaluation.suite import Suite
    from rlhf_eval.store import ResultsStore

    torch.set_num_threads(2)  # what a 2-core machine starts with, so the flag must change it
    seen = []
    original = Suite._generate

    def spy(self, *args, **kwargs):  # the threads torch has while generating
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Suite, "_generate", spy)
    run = fresh_run(tiny_world, tmp_path / "run")
    kw = eval_kwargs(tiny_world)
    code = cli.main(["eval", "--run", str(run), "--prompts", kw["prompts"], "--metrics",
                     "length", "--max-samples", "2", "--max-new-tokens", "4",
                     "--no-progress", "--threads", "1"])
    assert code == 0
    assert seen and set(seen) == {1}
    runs = ResultsStore(run / "results.sqlite", readonly=True).runs()
    config = json.loads(runs["config_json"].iloc[0])
    assert config["threads"] == 1
    assert config["provenance"]["torch_threads"] == {"threads": 1, "requested": 1,
                                                     "reason": "requested"}


def test_auto_threads_follow_the_environment_then_the_load(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads(0).threads == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr("rlhf_eval.threads.available_cpus", lambda: 8)
    monkeypatch.setattr("os.getloadavg", lambda: (5.4, 0.0, 0.0))
    assert resolve_threads(0).threads == 3        # 8 CPUs, ~5 busy
    monkeypatch.setattr("os.getloadavg", lambda: (12.0, 0.0, 0.0))
    assert resolve_threads(0).threads == 1        # never below 1
    monkeypatch.setattr("os.getloadavg", lambda: (0.1, 0.0, 0.0))
    assert resolve_threads(0).threads == 8        # never above the CPUs
    assert resolve_threads(5).threads == 5


def test_bad_threads_are_config_errors():
    from rlhf_eval.evaluation.suite import EvalConfig

    with pytest.raises(ConfigError, match="threads"):
        resolve_threads(-1)
    with pytest.raises(ConfigError, match="threads"):
        EvalConfig(threads=-2)
