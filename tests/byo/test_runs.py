"""Friction 2: a run folder is relocatable and has a stable identity.

run.json stores paths relative to the run folder and a run_id; a moved or copied run is
evaluated as the same run (nothing recomputed), `report --run X` reports X or names the runs
the store holds, and the dashboard resolves run paths against the store, not its own cwd."""
from __future__ import annotations

import json
import os
import shutil
from types import SimpleNamespace

import pytest

import rlhf_eval
from rlhf_eval.cli import main
from rlhf_eval.store import ResultsStore

KW = dict(metrics=["length", "reward"], judges=["reward"], max_new_tokens=4,
          max_prompt_tokens=32, batch_size=4, n_bootstrap=50, progress=False)


def test_ppo_trainer_writes_relative_paths_and_keeps_its_run_id(world, tmp_path,
                                                                monkeypatch):
    from rlhf_eval.training.ppo import PPOTrainer
    from rlhf_eval.training.ppo_config import PPOConfig

    run = tmp_path / "runs" / "ppo"
    run.mkdir(parents=True)
    trainer = SimpleNamespace(run_dir=run, cfg=PPOConfig(), world=1)
    monkeypatch.chdir(world["root"])  # training launched from the folder holding the models
    sources = {"policy_init": "sft", "reward_model": "rm", "train_prompts": world["prompts"],
               "ref_model": "gpt2"}
    PPOTrainer._write_run_json(trainer, sources)
    first = json.loads((run / "run.json").read_text())
    # relative to the launch folder -> relative to the run folder; absolute and Hub ids kept
    assert first["policy_init"] == os.path.relpath(world["root"] / "sft", run)
    assert (run / first["reward_model"]).resolve() == (world["root"] / "rm").resolve()
    assert first["train_prompts"] == world["prompts"] and first["ref_model"] == "gpt2"
    assert len(first["run_id"]) == 32
    PPOTrainer._write_run_json(trainer, sources)  # a resume rewrites run.json: same id
    assert json.loads((run / "run.json").read_text())["run_id"] == first["run_id"]


def test_moved_run_is_the_same_run_and_report_follows_it(fresh_world, tmp_path, capsys,
                                                         monkeypatch):
    run = fresh_world["run"]
    prompts = str(fresh_world["prompts"])
    df = rlhf_eval.evaluate(run, prompts=prompts, **KW)
    first = df.attrs["report"]
    assert first["generated"] > 0
    # move the whole tree elsewhere and rename the run folder; evaluate from another cwd
    moved_root = tmp_path / "elsewhere"
    shutil.move(str(fresh_world["root"]), moved_root)
    moved = moved_root / "run-renamed"
    (moved_root / "run").rename(moved)
    monkeypatch.chdir(tmp_path)
    df2 = rlhf_eval.evaluate(moved, prompts=str(moved_root / "prompts.jsonl"), **KW)
    again = df2.attrs["report"]
    assert again["run"] == "run" and again["generated"] == 0
    assert again["scores_written"] == 0 and again["models_loaded"] == 0
    with ResultsStore(moved / "results.sqlite", readonly=True) as s:
        assert list(s.runs()["run"]) == ["run"]
    assert main(["report", "--run", str(moved), "--format", "json"]) == 0
    report = json.loads((moved / "report" / "report.json").read_text())
    assert report["run"] == "run"
    # a store holding other runs only: report names them instead of reporting another run
    with ResultsStore(moved / "results.sqlite") as s:
        s.add_run("other", path=None, config={"run_id": "ffff"})
    meta = json.loads((moved / "run.json").read_text())
    meta["run_id"], meta["name"] = "not-in-store", "nope"
    (moved / "run.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["report", "--run", str(moved), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "holds the runs ['other', 'run']" in err and "--run-name" in err


def test_old_run_json_relative_to_launch_folder_fails_clearly_when_moved(fresh_world,
                                                                         tmp_path, capsys):
    run = fresh_world["run"]
    meta = json.loads((run / "run.json").read_text())
    meta.update(policy_init="runs/demo/sft", ref_model="runs/demo/sft", run_id=None)
    (run / "run.json").write_text(json.dumps(meta))
    rc = main(["eval", "--run", str(run), "--prompts", str(fresh_world["prompts"]),
               "--metrics", "length", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Repo id" not in err
    assert "field 'policy_init': 'runs/demo/sft' is neither a folder relative to the run " \
           "folder" in err and "--baseline-model" in err


def test_dashboard_resolves_run_paths_against_the_store(fresh_world, tmp_path, monkeypatch):
    from rlhf_eval.dashboard.source import run_folder, run_folders

    run = fresh_world["run"]
    monkeypatch.chdir(fresh_world["root"])  # eval from the parent folder, relative --run
    rlhf_eval.evaluate("run", prompts="prompts.jsonl", **{**KW, "metrics": ["length"],
                                                          "judges": ["length"]})
    monkeypatch.chdir(tmp_path)  # the dashboard runs somewhere else
    store = run / "results.sqlite"
    with ResultsStore(store, readonly=True) as s:
        runs = s.runs()
    assert runs["path"].iloc[0] == "."  # relative to the store's folder
    assert run_folders(store, runs) == {"run": run.resolve()}
    assert run_folder(store, None) is None
    assert run_folder(store, str(tmp_path)) == tmp_path


def test_lora_sweep_checkpoints_with_the_same_folder_name_stay_apart(tmp_path):
    from rlhf_eval.evaluation.suite import discover_checkpoints

    paths = [str(tmp_path / "r8" / "checkpoint-500"), str(tmp_path / "r16" / "checkpoint-500"),
             str(tmp_path / "other-2")]
    specs = discover_checkpoints(None, paths)
    assert sorted((s.name, s.step) for s in specs) == [
        ("other-2", 2), ("r16/checkpoint-500", 500), ("r8/checkpoint-500", 500)]


def test_trl_style_output_folder_without_run_json(fresh_world, capsys):
    """An HF-Trainer/TRL output folder: checkpoint-<step>/ and no run.json; one command."""
    run = fresh_world["run"]
    (run / "run.json").unlink()
    assert main(["eval", "--run", str(run), "--baseline-model", str(fresh_world["sft"]),
                 "--reward-model", str(fresh_world["rm"]), "--prompts",
                 str(fresh_world["prompts"]), "--metrics", "length,reward", "--judges",
                 "reward", "--max-new-tokens", "2", "--no-progress"]) == 0
    assert "run run: 2 checkpoint(s)" in capsys.readouterr().out
