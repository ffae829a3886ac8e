"""``rlhf-eval ppo`` as users run it: real subprocesses, a real SIGKILL, ``accelerate launch``
with two gloo processes, and the run-folder contract other areas read."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rlhf_eval.cli import main
from rlhf_eval.runs import latest_checkpoint

VENV_BIN = Path(sys.executable).parent
# one OpenMP thread per process: see conftest._one_thread (and 2 processes on 2 cores)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _args(tiny, run_dir, *extra):
    return ["ppo", "--policy", tiny["policy"], "--reward-model", tiny["rm"], "--prompts",
            tiny["prompts"], "--run-dir", str(run_dir), "--steps", "4", "--batch-size", "8",
            "--num-minibatches", "2", "--max-new-tokens", "12", "--save-every", "2",
            "--learning-rate", "1e-3", "--no-progress", "--gold", "none", *extra]


def _cli(tiny, run_dir, *extra):
    return [str(VENV_BIN / "python"), "-m", "rlhf_eval.cli", *_args(tiny, run_dir, *extra)]


def _rows(run_dir):
    rows = [json.loads(line) for line in Path(run_dir, "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("eps")  # wall-clock throughput, the only non-deterministic column
    return rows


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder, "model.safetensors")))


@pytest.fixture(scope="module")
def reference_run(tiny, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ppo_ref") / "run"
    proc = subprocess.run(_cli(tiny, run_dir), env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def test_run_folder_holds_the_contract(reference_run, tiny):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    run = json.loads((reference_run / "run.json").read_text())
    assert run["policy_init"] == tiny["policy"] and run["reward_model"] == tiny["rm"]
    assert run["ref_model"] == tiny["policy"] and run["lora"] is False
    assert run["train_prompts"] == tiny["prompts"] and run["config"]["steps"] == 4
    rows = _rows(reference_run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    header = (reference_run / "metrics.csv").read_text().splitlines()[0].split(",")
    for name in ("objective/kl", "objective/entropy", "objective/scores",
                 "objective/non_score_reward", "objective/rlhf_reward", "policy/approxkl",
                 "policy/clipfrac", "loss/policy", "loss/value", "val/clipfrac", "val/ratio",
                 "val/num_eos_tokens", "episode", "lr", "step"):
        assert name in header and name in rows[0], name
    assert rows[-1]["episode"] == 32
    ckpt = latest_checkpoint(reference_run)
    assert ckpt.name == "checkpoint-4" and (reference_run / "checkpoint-2").is_dir()
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["step"] == 4 and len(state["metrics"]) == 4
    for f in ("optimizer.pt", "scheduler.pt", "rng_state.pt", "ppo_config.json"):
        assert (ckpt / f).is_file(), f
    AutoModelForCausalLM.from_pretrained(ckpt)
    value = AutoModelForSequenceClassification.from_pretrained(ckpt / "value_model")
    assert value.config.num_labels == 1
    # the trained policy moved away from the initial one
    init = AutoModelForCausalLM.from_pretrained(tiny["policy"]).state_dict()
    assert any(not torch.equal(v, init[k]) for k, v in _weights(ckpt).items() if k in init)


def test_resume_after_sigkill_equals_the_uninterrupted_run(reference_run, tiny, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(_cli(tiny, run_dir), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (run_dir / "checkpoint-2").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before checkpoint-2"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (run_dir / "checkpoint-4").exists()
    resumed = subprocess.run(_cli(tiny, run_dir, "--resume"), env=ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # on CPU, step for step identical (not approximately): same weights, same numbers
    assert _rows(run_dir) == _rows(reference_run)
    a, b = _weights(run_dir / "checkpoint-4"), _weights(reference_run / "checkpoint-4")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_accelerate_processes_equal_one_process(reference_run, tiny, tmp_path):
    """Same global batch (8 prompts, minibatches of 4) split over 2 gloo processes.

    Tolerance: fp32 rounding only. The two runs sum the same numbers in a different order
    (all-reduce of gradients, GEMMs over 4 instead of 8 rows), which moved metrics by ~1e-7
    relative after 4 steps when this test was written; rtol 1e-4 leaves room for that while
    any real difference (a wrong normalisation, a different sample, a shard trained twice)
    moves metrics by percents. The clip fractions are counts of tokens past a threshold: a
    token whose ratio or value sits on the clip boundary (within 1e-7) flips between the runs,
    moving the fraction by 1 / (tokens per minibatch x minibatches) ~ 0.003 (seen: 0.004 once
    in 4 steps), so they get an absolute tolerance of 0.01 instead."""
    run_dir = tmp_path / "run"
    # `accelerate launch --cpu --num_processes 2` runs ONE process in accelerate 1.15 (its
    # simple launcher; several CPU processes need mpirun and a hostfile). `--multi_gpu` on a
    # machine without CUDA starts 2 torch.distributed processes that accelerate runs as
    # MULTI_CPU over gloo; run.json records the process count so this cannot pass vacuously.
    cmd = [str(VENV_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "rlhf_eval.cli", *_args(tiny, run_dir)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run_dir / "run.json").read_text())["num_processes"] == 2
    two, one = _rows(run_dir), _rows(reference_run)
    assert len(two) == len(one) == 4
    for r2, r1 in zip(two, one):
        assert r2.keys() == r1.keys()
        for k in r1:
            tol = dict(abs=0.01) if k.endswith("clipfrac") else dict(rel=1e-4, abs=1e-6)
            assert r2[k] == pytest.approx(r1[k], **tol), (r1["step"], k)
    a, b = _weights(run_dir / "checkpoint-4"), _weights(reference_run / "checkpoint-4")
    for k in b:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)


KILL_DURING_WRITE = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, AutoTokenizer
from ppo_helpers import colour_share, make_prompts
from rlhf_eval.training.ppo import PPOTrainer
from rlhf_eval.training.ppo_config import PPOConfig

original = PPOTrainer._write_checkpoint
def slow_write(self, folder):
    original(self, folder)  # every file of checkpoint-2 is written into the .tmp folder...
    if self.step == 2:
        Path({marker!r}).touch()
        time.sleep(120)     # ...and the process is killed before it is published
PPOTrainer._write_checkpoint = slow_write
cfg = PPOConfig(steps=3, batch_size=8, max_new_tokens=8, save_every=1)
PPOTrainer(cfg, policy=AutoModelForCausalLM.from_pretrained({policy!r}),
           tokenizer=AutoTokenizer.from_pretrained({policy!r}), prompts=make_prompts(16),
           run_dir={run!r}, reward_fn=colour_share, progress=False).train()
"""


def test_kill_while_writing_a_checkpoint_leaves_the_previous_one_usable(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    run_dir, marker = tmp_path / "run", tmp_path / "writing"
    script = KILL_DURING_WRITE.format(tests=str(Path(__file__).parent), marker=str(marker),
                                      policy=tiny["policy"], run=str(run_dir))
    proc = subprocess.Popen([sys.executable, "-c", script], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not marker.exists():
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run_dir / "checkpoint-2.tmp").is_dir()  # the half-published write
    last = latest_checkpoint(run_dir)
    assert last is not None and last.name == "checkpoint-1"
    AutoModelForCausalLM.from_pretrained(last)
    assert json.loads((last / "trainer_state.json").read_text())["step"] == 1


def test_bad_prompt_file_exits_2_naming_file_line_and_field(tiny, tmp_path, capsys):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"prompt": "a cat:"}\n{"prompt": ""}\n')
    args = _args(tiny, tmp_path / "run")
    args[args.index("--prompts") + 1] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: field 'prompt'" in err


def test_unknown_config_key_exits_2(tiny, tmp_path, capsys):
    cfg = tmp_path / "ppo.yaml"
    cfg.write_text("kl_coeff: 0.1\n")
    assert main(_args(tiny, tmp_path / "run", "--config", str(cfg))) == 2
    assert "did you mean 'kl_coef'" in capsys.readouterr().err
