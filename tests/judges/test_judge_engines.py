"""Judge engines by name (hf | vllm | openai): options go where they belong, and a bad endpoint
fails at once with one line naming the URL (the real vLLM server paths are in
tests/engines/test_engine_vllm.py)."""
from __future__ import annotations

import socket

import pytest

from rlhf_eval.cli import main
from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.judges.engine import make_engine
from rlhf_eval.lm.engines import EngineError


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"      # nothing listens there any more


def test_unknown_engine_and_misplaced_options():
    with pytest.raises(ConfigError, match="unknown judge engine 'vlm'"):
        make_engine("vlm", "x")
    with pytest.raises(ConfigError, match="apply to the vllm and openai judge engines"):
        make_engine("hf", "x", engine_options={"base_url": "http://127.0.0.1:1/v1"})
    with pytest.raises(ConfigError, match=r"takes no option\(s\) \['dtype'\]"):
        make_engine("openai", "served", dtype="float32")


def test_openai_judge_on_a_dead_endpoint_fails_fast_naming_it():
    url = _closed_port_url()
    with pytest.raises(EngineError, match=rf"{url}.*connection refused"):
        make_engine("openai", "some-served-model",
                    engine_options={"base_url": url, "max_retries": 0})


def test_judge_cli_openai_dead_endpoint_exit_code(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "p", "a": "x", "b": "y"}\n')
    url = _closed_port_url()
    code = main(["judge", "--pairs", str(pairs), "--llm", "served-model", "--engine", "openai",
                 "--base-url", url, "--max-retries", "0", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and url in err and "connection refused" in err
    assert not (tmp_path / "out" / "verdicts.jsonl").exists()
