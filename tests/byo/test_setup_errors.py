"""Frictions 4, 5, 7 and 8: settings errors arrive all at once, named by flag, before torch
loads; Hub ids fail fast offline naming the id (and a LoRA adapter's base); a DatasetDict
needs --split; other tools' data layouts get a hint."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from rlhf_eval.cli import main
from rlhf_eval.errors import ModelError


def _run(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def test_all_eval_problems_at_once_before_torch_named_by_flags(world, tmp_path):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("include_baseline: maybe\nmax_new_tokenz: 3\nbaseline: best\n")
    code = f"""
import sys
from rlhf_eval.cli import main
rc = main(["eval", "--config", {str(cfg)!r}, "--run", {str(tmp_path / 'nope')!r},
           "--prompts", {str(tmp_path / 'missing.jsonl')!r}, "--metrics", "rouge,roueg,kl",
           "--ref-model", {str(tmp_path / 'no/ref/here')!r},
           "--max-samples", "0"])
print("rc", rc, "torch", "torch" in sys.modules, "transformers" in sys.modules)
"""
    res = _run(code)
    assert "rc 2 torch False False" in res.stdout, res.stderr
    err = res.stderr
    for expected in ("unknown key 'max_new_tokenz' (did you mean 'max_new_tokens'?)",
                     "--no-baseline [include_baseline]: expected bool",
                     "--run [run]: run folder", "does not exist",
                     "--prompts [prompts]: prompt file",
                     "--metrics [metrics]: unknown metric 'roueg'; did you mean 'rouge'",
                     "--baseline [baseline]: the win-rate baseline must be one of",
                     "--max-samples [max_samples]: expected >= 1, found 0",
                     "--ref-model [ref_model]: reference model",
                     "no such folder (and not a Hugging Face Hub id)"):
        assert expected in err, (expected, err)
    assert "problems:" in err


def test_no_baseline_flag_evaluates_checkpoints_only(fresh_world):
    from rlhf_eval.store import ResultsStore

    run = fresh_world["run"]
    assert main(["eval", "--run", str(run), "--prompts", str(fresh_world["prompts"]),
                 "--metrics", "length", "--judges", "length", "--max-new-tokens", "2",
                 "--no-baseline", "--no-references", "--no-progress"]) == 0
    with ResultsStore(run / "results.sqlite", readonly=True) as s:
        assert list(s.checkpoints(run="run")["checkpoint"]) == ["checkpoint-5"]


def test_hub_ids_fail_fast_offline_naming_the_id(world, tmp_path):
    code = f"""
import time
t = time.time()
from rlhf_eval.cli import main
rc = main(["eval", "--checkpoint", "gpt2", "--baseline-model", {world['sft']!r},
           "--prompts", {world['prompts']!r}, "--store", {str(tmp_path / 'r.sqlite')!r},
           "--metrics", "length", "--no-progress"])
print("rc", rc, "seconds", round(time.time() - t, 2))
"""
    res = _run(code, {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert "rc 2" in res.stdout, res.stderr
    assert "checkpoint 'gpt2': not a local folder, and the Hugging Face Hub id 'gpt2' is " \
           "not in the local cache" in res.stderr
    assert "does not exist" not in res.stderr
    assert len(res.stderr.splitlines()) <= 2  # one clear error, no retry warnings


def test_offline_detected_by_one_failed_connection(monkeypatch, tmp_path):
    import socket

    from rlhf_eval import hub

    calls = []

    def refuse(address, timeout=None):
        calls.append(address)
        raise ConnectionRefusedError("refused")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(socket, "create_connection", refuse)
    hub.is_offline.cache_clear()
    try:
        with pytest.raises(ModelError, match="'org/some-model'.*offline"):
            hub.check_model_source("org/some-model", "reward model")
        with pytest.raises(ModelError, match="'gpt2'"):
            hub.check_model_source("gpt2", "checkpoint")
        assert len(calls) == 1  # decided once for the process
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    finally:
        hub.is_offline.cache_clear()
    assert hub.looks_like_hub_id("meta-llama/Llama-3.2-1B")
    assert not hub.looks_like_hub_id("runs/demo/sft") and not hub.looks_like_hub_id("./sft")


def test_lora_adapter_whose_hub_base_is_missing_names_the_base(world, tmp_path, monkeypatch):
    from rlhf_eval import hub
    from rlhf_eval.models import load_causal_lm

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": "some-org/base-7b", "r": 4}))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hub.is_offline.cache_clear()
    try:
        with pytest.raises(ModelError) as info:
            load_causal_lm(str(adapter))
    finally:
        hub.is_offline.cache_clear()
    msg = str(info.value)
    assert "base model of the LoRA adapters in" in msg and "'some-org/base-7b'" in msg


def test_dataset_dict_needs_split(world, tmp_path, capsys, caplog):
    import datasets

    from rlhf_eval.io import to_dataset, write_records
    from rlhf_eval.schema import PreferencePair

    pairs = [PreferencePair(f"p{i}", f"good {i}", f"bad {i}") for i in range(6)]
    dd = datasets.DatasetDict({"train": to_dataset(pairs[:4]), "test": to_dataset(pairs[4:])})
    dd.save_to_disk(str(tmp_path / "dd"))
    for argv in (["train-rm", "--data", str(tmp_path / "dd"), "--model", world["sft"],
                  "--out", str(tmp_path / "rm"), "--max-steps", "1"],
                 ["eval-rm", "--model", world["rm"], "--data", str(tmp_path / "dd"),
                  "--out", str(tmp_path / "e")],
                 ["score", "--model", world["rm"], "--data", str(tmp_path / "dd"),
                  "--out", str(tmp_path / "s.jsonl")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "DatasetDict with splits ['train', 'test']: pass --split" in err, err
    assert main(["score", "--model", world["rm"], "--data", str(tmp_path / "dd"), "--split",
                 "test", "--out", str(tmp_path / "s.jsonl"), "--no-progress"]) == 0
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2
    write_records(tmp_path / "x.jsonl", pairs)
    assert main(["data", "validate", str(tmp_path / "dd")]) == 0  # documented: all, loudly
    assert "reading ALL its splits ['train', 'test']" in caplog.text


def test_other_layouts_get_a_hint(tmp_path, capsys):
    conv = {"prompt": [{"role": "user", "content": "hi"}],
            "chosen": [{"role": "assistant", "content": "hello"}],
            "rejected": [{"role": "assistant", "content": "go away"}]}
    (tmp_path / "trl.jsonl").write_text(json.dumps(conv) + "\n")
    assert main(["data", "validate", str(tmp_path / "trl.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "expected a string, found list" in err and "pass --adapter trl" in err
    hh = {"chosen": "\n\nHuman: hi\n\nAssistant: hello",
          "rejected": "\n\nHuman: hi\n\nAssistant: go away"}
    (tmp_path / "hh.jsonl").write_text(json.dumps(hh) + "\n")
    assert main(["data", "validate", str(tmp_path / "hh.jsonl"), "--kind", "pair"]) == 2
    assert "pass --adapter hh-rlhf" in capsys.readouterr().err
    assert main(["data", "validate", str(tmp_path / "hh.jsonl")]) == 2
    assert "--adapter hh-rlhf" in capsys.readouterr().err
