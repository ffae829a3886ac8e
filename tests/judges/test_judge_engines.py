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


def test_judge_on_the_lm_engine_layer_equals_the_hf_judge(tmp_path):
    """LMEngineJudge over the runtime layer's hf engine gives the in-process hf judge's option
    log-probs, also when the prompt ends in a space that the option's token absorbs
    ("Better: " + "A" -> " A" in a BPE vocabulary): there the option's span after the prompt
    is empty, and summing it used to give every option log-prob 0 (a silent 'A' verdict)."""
    import numpy as np

    from rlhf_eval.evaluation.judges.engine import LMEngineJudge
    from rlhf_eval.lm.engines import get_engine
    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm, train_bpe_tokenizer

    corpus = ["Which is better? Better: A", "Better: B is fine", "Better: C maybe"] * 20
    tok = train_bpe_tokenizer(corpus, vocab_size=300)
    assert len(tok("Better: ")["input_ids"]) >= len(tok("Better: A")["input_ids"])  # merged
    model = build_tiny_causal_lm(tok, TinyModelConfig(arch="llama", max_positions=256))
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    prompts = ["Which is better? Better: ", "Which is better?\nBetter:"]
    want = make_engine("hf", str(tmp_path / "m"), device="cpu").option_logprobs(
        prompts, ["A", "B", "C"])
    judge = LMEngineJudge(get_engine("hf", device="cpu"), str(tmp_path / "m"))
    got = judge.option_logprobs(prompts, ["A", "B", "C"])
    assert np.all(got < 0) and np.allclose(got, want, atol=1e-5), (got, want)
    assert judge.signature().startswith("hf:torch=")
    judge.close()   # borrowed engine: left open for its owner
