"""Session fixtures of the engine tests: the tiny world, ONE real vLLM OpenAI server (started
from .venv-vllm on a free 127.0.0.1 port, killed at the end), the hf reference completions."""
from __future__ import annotations

import pytest

from engine_helpers import VLLMServer, build_world, vllm_missing


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("engine_world"))


@pytest.fixture(scope="session")
def vllm_reason():
    return vllm_missing()


@pytest.fixture(scope="session")
def vllm_inprocess(world, vllm_reason, tmp_path_factory):
    """The in-process vLLM job (vllm_inprocess_job.py in .venv-vllm), started at once so that
    its start-up overlaps the server's; tests call ``result()``."""
    if vllm_reason:
        pytest.skip(vllm_reason)
    import json
    import subprocess
    from pathlib import Path

    from engine_helpers import MAX_NEW, VLLM_PYTHON, vllm_env

    d = tmp_path_factory.mktemp("vllm_inprocess")
    spec = {k: world[k] for k in ("sft", "loras", "prompts")}
    spec["samples"] = [{"prompt": s.prompt} for s in world["samples"]]
    spec["max_new"] = MAX_NEW
    log = open(d / "job.log", "w")
    proc = subprocess.Popen([str(VLLM_PYTHON), str(Path(__file__).with_name(
        "vllm_inprocess_job.py")), json.dumps(spec), str(d / "store.sqlite"),
        str(d / "out.json")], stdout=log, stderr=subprocess.STDOUT, env=vllm_env(),
        start_new_session=True)

    class Job:
        def result(self):
            rc = proc.wait(900)
            log.flush()
            assert rc == 0, (d / "job.log").read_text()[-4000:]
            return json.loads((d / "out.json").read_text())

    yield Job()
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="session")
def vllm_server(world, vllm_reason, vllm_inprocess, tmp_path_factory):
    if vllm_reason:
        pytest.skip(vllm_reason)
    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    server = VLLMServer(world["sft"], log, extra=[
        "--enable-lora", "--max-lora-rank", "8",
        "--lora-modules", *(f"lora-{k}={p}" for k, p in enumerate(world["loras"], 1))])
    print(f"\nvLLM server start-up: {server.startup_s:.0f} s")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hf_reference(world):
    """Greedy completions of the hf engine for every prompt and model (the reference)."""
    from engine_helpers import MAX_NEW
    from rlhf_eval.lm.generate import GenerationSettings
    from rlhf_eval.lm.engines import ModelRef, get_engine
    from rlhf_eval.models import load_tokenizer

    settings = GenerationSettings(max_new_tokens=MAX_NEW, batch_size=8)
    tok = load_tokenizer(world["sft"], require_pad=True)
    prompts = [s.prompt for s in world["samples"]]
    ids = [f"s{k}" for k in range(len(prompts))]
    out = {}
    with get_engine("hf", device="cpu") as eng:
        for name, path in [("sft", world["sft"])] + [(f"lora-{k}", p) for k, p in
                                                      enumerate(world["loras"], 1)]:
            out[name] = eng.generate(ModelRef(name, path, None, tok), prompts, ids, settings)
    return out
