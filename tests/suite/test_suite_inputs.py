"""Checkpoint discovery, weight fingerprints, prompt files and run.json overrides."""
from __future__ import annotations

import json

import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.model_metrics import path_fingerprint
from rlhf_eval.evaluation.suite import (EvalConfig, discover_checkpoints, load_samples,
                                        resolve_sources)


def test_discover_checkpoints_ignores_incomplete_and_foreign_folders(tmp_path):
    for name in ("checkpoint-100", "checkpoint-20", "checkpoint-300.tmp", "checkpoint-x",
                 "value_model", "sft"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-5").write_text("a file, not a folder")
    found = discover_checkpoints(tmp_path)
    assert [(c.name, c.step) for c in found] == [("checkpoint-20", 20), ("checkpoint-100", 100)]
    # other tools' folders: the step is the trailing number, else the position in the list
    explicit = discover_checkpoints(None, ["other/step7", "other/ckpt-b", "other/final"])
    assert [(c.name, c.step) for c in explicit] == [("ckpt-b", 2), ("final", 3), ("step7", 7)]


def test_fingerprint_follows_weights_not_optimizer_state(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"w1")
    (tmp_path / "config.json").write_text("{}")
    a = path_fingerprint(tmp_path)
    (tmp_path / "optimizer.pt").write_bytes(b"state")
    (tmp_path / "trainer_state.json").write_text('{"step": 3}')
    assert path_fingerprint(tmp_path) == a
    (tmp_path / "model.safetensors").write_bytes(b"w2")
    assert path_fingerprint(tmp_path) != a and a.startswith("sha:")
    assert path_fingerprint(tmp_path, full_hash_limit=1).startswith("stat:")
    assert path_fingerprint("gpt2") == "id:gpt2"


def test_load_samples_dedupes_limits_and_keeps_ids(tmp_path):
    p = tmp_path / "p.jsonl"
    rows = [{"prompt": "a", "references": ["x"], "id": "s1", "meta": {"k": 1}},
            {"prompt": "a", "references": ["x"]},                 # duplicate content
            {"input": "b", "references": "y"},                     # summarisation spelling
            {"prompt": "c"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = load_samples(p)
    assert [x.prompt for x in s] == ["a", "b", "c"]
    assert s[0].meta == {"k": 1, "id": "s1"} and s[1].references == ("y",)
    assert s[2].references == ()
    assert len(load_samples(p, max_samples=2)) == 2


def test_run_json_paths_can_be_overridden():
    run = {"policy_init": "sft/", "ref_model": "<in-memory>", "reward_model": "rm/"}
    src = resolve_sources(EvalConfig(run="r"), run)
    assert (src.baseline, src.ref, src.reward) == ("sft/", "sft/", "rm/")
    src = resolve_sources(EvalConfig(run="r", ref_model="ref/", reward_model="rm2/",
                                     baseline_model="base/"), run)
    assert (src.baseline, src.ref, src.reward) == ("base/", "ref/", "rm2/")


def test_config_validation():
    with pytest.raises(ConfigError, match="baseline must be"):
        EvalConfig(run="r", baseline="best")
    with pytest.raises(ConfigError, match="tie_policy"):
        EvalConfig(run="r", tie_policy="coin")
    with pytest.raises(ConfigError, match="max_samples"):
        EvalConfig(run="r", max_samples=0)
