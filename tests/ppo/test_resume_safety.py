"""Issue 19, finding 1: `ppo --resume` must never unpickle code from a run folder.

A planted ``rng_state.pt`` (or optimizer/scheduler file) whose pickle would run a command is
refused with a clear error, and the command does not run; honest checkpoints are plain tensor
files that load with ``weights_only=True``."""
from __future__ import annotations

import os
import pickle

import pytest
import torch

from ppo_helpers import colour_share, make_prompts
from rlhf_eval.errors import RlhfEvalError
from rlhf_eval.training.ppo import PPOTrainer
from rlhf_eval.training.ppo_config import PPOConfig


class _Planted:
    """Unpickling this object calls ``os.system`` (what an attacker puts in a .pt file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _trainer(tiny, run_dir, resume=False):
    from transformers import AutoModelForCausalLM

    cfg = PPOConfig(steps=1, batch_size=4, max_new_tokens=4, save_every=1)
    return PPOTrainer(cfg, policy=AutoModelForCausalLM.from_pretrained(tiny["policy"]),
                      tokenizer=tiny["tokenizer"], prompts=make_prompts(8), run_dir=run_dir,
                      reward_fn=colour_share, progress=False, resume=resume)


@pytest.fixture(scope="module")
def one_step_run(tiny, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("resume-safety") / "run"
    _trainer(tiny, run_dir).train()
    return run_dir


def test_every_checkpoint_file_loads_with_weights_only(one_step_run):
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pt"):
        torch.load(one_step_run / "checkpoint-1" / name, weights_only=True)


@pytest.mark.parametrize("name", ["rng_state.pt", "optimizer.pt", "scheduler.pt"])
def test_planted_pickle_is_refused_and_nothing_runs(tiny, one_step_run, tmp_path, name):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(one_step_run, run_dir)
    marker = tmp_path / "pwned"
    with open(run_dir / "checkpoint-1" / name, "wb") as fh:
        pickle.dump({"python": _Planted(marker)}, fh)
    with pytest.raises(RlhfEvalError, match=rf"{name}: refused to load"):
        _trainer(tiny, run_dir, resume=True)
    assert not marker.exists(), "the planted pickle ran a command"
    # the same object really does run when unpickled without the guard: the test can fail
    with open(run_dir / "checkpoint-1" / name, "rb") as fh:
        pickle.load(fh)
    assert marker.exists()
