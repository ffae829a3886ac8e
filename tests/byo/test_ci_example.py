"""Friction 3: the CI example runs from a fresh runner. Its Evaluate and Report steps are
executed as written (bash -e, the env block of the workflow) in two fresh workspaces; the
second starts from the first's cached store and evaluates only the new checkpoint."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci-example.yml"


def _steps():
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = {s.get("name", s.get("uses")): s for s in wf["jobs"]["gate"]["steps"]}
    return wf["env"], steps


def _workspace(world, dest: Path, extra_checkpoint: bool) -> Path:
    """What the checkout gives a runner: runs/ (the run and the models it names), data/."""
    shutil.copytree(world["root"], dest / "runs", ignore=shutil.ignore_patterns(
        "results.sqlite*", "report"))
    (dest / "runs" / "run").rename(dest / "runs" / "my-ppo")
    (dest / "data").mkdir()
    shutil.move(dest / "runs" / "prompts.jsonl", dest / "data" / "heldout_prompts.jsonl")
    if extra_checkpoint:  # training went on: a new checkpoint since the last CI run
        shutil.copytree(dest / "runs" / "my-ppo" / "checkpoint-5",
                        dest / "runs" / "my-ppo" / "checkpoint-10")
    return dest


def _run_step(step: dict, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # where `rlhf-eval` is installed
    full = dict(os.environ, **env, PATH=bin_dir + os.pathsep + os.environ["PATH"],
                OMP_NUM_THREADS="1")
    full.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=600)


# slow: three CLI processes run the example's commands as written, i.e. the full default
# metric set (BERTScore loads MiniLM each time); ~25 s CPU, 60-140 s wall on a busy 2-core box
@pytest.mark.slow
def test_ci_example_installs_from_source_caches_the_store_and_is_incremental(world,
                                                                              tmp_path):
    env, steps = _steps()
    install = steps["Install rlhf-eval (CPU torch first, then the package from its source)"]
    assert "pip install torch==2.13.0" in install["run"]
    assert "pip install ./.rlhf-eval-src" in install["run"]  # not `pip install rlhf-eval`
    cache = steps["Restore the results store (incremental across runners)"]
    assert cache["uses"].startswith("actions/cache@")
    assert "results.sqlite" in cache["with"]["path"] and cache["with"]["restore-keys"]
    assert (ROOT / "pyproject.toml").is_file()  # what `pip install ./<source>` builds

    first = _workspace(world, tmp_path / "runner1", extra_checkpoint=False)
    res = _run_step(steps["Evaluate new checkpoints"], env, first)
    assert res.returncode == 0, res.stderr
    # 4 prompts x (baseline, checkpoint-5)
    assert "run my-ppo: 2 checkpoint(s), 8 new generation(s)" in res.stdout
    store = first / env["RUN"] / "results.sqlite"
    assert store.is_file() and not Path(str(store) + "-wal").exists()  # one file to cache

    second = _workspace(world, tmp_path / "runner2", extra_checkpoint=True)
    shutil.copy(store, second / env["RUN"] / "results.sqlite")  # the cache restore
    res = _run_step(steps["Evaluate new checkpoints"], env, second)
    assert res.returncode == 0, res.stderr
    assert "run my-ppo: 3 checkpoint(s), 4 new generation(s)" in res.stdout  # only the new

    res = _run_step(steps["Report and gates"], env, second)
    assert res.returncode in (0, 1), res.stderr
    suite = ET.parse(second / env["RUN"] / "report" / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(cases) == 3 and res.returncode == (1 if failed else 0)
    assert "checkpoint-10" in (second / env["RUN"] / "report" / "report.md").read_text()
