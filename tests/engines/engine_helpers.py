"""Helpers of the engine tests: a tiny world, free ports, a real vLLM server, HTTP stubs.

(A module with a unique name: `from conftest import ...` would pick another area's conftest.)

    sft/            tiny Llama policy (fp32; vLLM has no LoRA for GPT-2) + its BPE tokenizer
    rm/             tiny reward model on the same backbone
    lora-1..3/      LoRA adapters on sft/ (peft folders), merged-1..3/ the same merged
    prompts.jsonl   N_PROMPTS lab eval prompts
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
N_PROMPTS = 40
MAX_NEW = 24


def build_world(root: Path, n_prompts: int = N_PROMPTS) -> dict:
    import torch
    from transformers import AutoTokenizer

    from rlhf_eval.io import write_records
    from rlhf_eval.lab import generate_lab, lab_config
    from rlhf_eval.models import (LoraSettings, TinyModelConfig, apply_lora,
                                  build_tiny_causal_lm, load_causal_lm, train_bpe_tokenizer)
    from rlhf_eval.rm.model import build_reward_model, save_reward_model

    lab = generate_lab(lab_config("test", seed=0, n_train=80, n_rankings=10,
                                  n_eval=max(n_prompts, 40)))
    prompts = lab.prompts("eval")[:n_prompts]
    write_records(root / "prompts.jsonl", prompts)
    corpus = [s.prompt + s.completion for s in lab.sft_samples()[:160]]
    tok = train_bpe_tokenizer(corpus, vocab_size=500, model_max_length=256)
    sft = root / "sft"
    model = build_tiny_causal_lm(tok, TinyModelConfig(arch="llama", n_layer=2, n_embd=128,
                                                      n_head=2, max_positions=256, seed=0))
    # a random tiny model has near-flat logits (greedy ties); sharpen them so that greedy
    # decoding is well defined and a 1-ulp difference between engines rarely flips a token
    with torch.no_grad():
        g = torch.Generator().manual_seed(7)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    model.save_pretrained(sft)
    tok.save_pretrained(sft)
    save_reward_model(build_reward_model(str(sft), seed=1), root / "rm")
    loras, merged = [], []
    for k in (1, 2, 3):
        peft_model = apply_lora(load_causal_lm(str(sft)), LoraSettings(r=4, alpha=8))
        with torch.no_grad():
            g = torch.Generator().manual_seed(10 + k)
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.add_(torch.randn(p.shape, generator=g) * 0.5)
        path = root / f"lora-{k}"
        peft_model.save_pretrained(path)
        AutoTokenizer.from_pretrained(sft).save_pretrained(path)
        full = root / f"merged-{k}"
        peft_model.merge_and_unload().save_pretrained(full)
        AutoTokenizer.from_pretrained(sft).save_pretrained(full)
        loras.append(str(path))
        merged.append(str(full))
    return {"root": root, "sft": str(sft), "rm": str(root / "rm"), "loras": loras,
            "merged": merged, "prompts": str(root / "prompts.jsonl"), "samples": prompts}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vllm_missing() -> str | None:
    """Why vLLM cannot run here (None when it can): the skip reason of the vLLM tests."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if sys.platform.startswith("linux") and not re.search(r"\bavx2\b", flags):
        return "this CPU has no AVX2 (vLLM's CPU build needs it)"
    if not VLLM_PYTHON.exists():
        return f"{VLLM_PYTHON} does not exist (make vllm-env installs vLLM there)"
    r = subprocess.run([str(VLLM_PYTHON), "-c", "import vllm, rlhf_eval"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return f"vllm is not importable in .venv-vllm: {r.stderr.strip().splitlines()[-1:]}"
    return None


def vllm_env() -> dict:
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")   # GiB; the default reserves far more
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` from .venv-vllm on 127.0.0.1."""

    def __init__(self, model: str, log_path: Path, extra: list[str] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        cmd = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", model,
               "--host", "127.0.0.1", "--port", str(self.port), "--max-model-len", "256",
               "--enforce-eager", "--dtype", "float32", "--seed", "0", *extra]
        self.log = open(log_path, "w")
        t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=vllm_env(), start_new_session=True)
        self.startup_s = self._wait(t0)

    def _wait(self, t0: float, limit: float = 600) -> float:
        import urllib.request

        while time.time() - t0 < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited ({self.proc.returncode}):\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - t0
            except OSError:
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM server not ready in {limit} s:\n"
                           + self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# ------------------------------------------------------------------ HTTP stubs and proxies

class Stub:
    """A tiny OpenAI-compatible stub in a thread. ``handler(method, path, body) -> (status,
    json)``; ``die_after`` completions requests it answers before it closes its socket (a
    server that dies mid-run)."""

    def __init__(self, handler, die_after: int | None = None):
        stub = self
        self.calls: list[str] = []
        self.die_after = die_after
        self.answered = 0
        self.lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"   # one request per connection: no keep-alive

            def log_message(self, *a):
                pass

            def _do(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"null")
                with stub.lock:
                    stub.calls.append(f"{method} {self.path}")
                    dead = (stub.die_after is not None and "completions" in self.path
                            and stub.answered >= stub.die_after)
                    if not dead and "completions" in self.path:
                        stub.answered += 1
                if dead:
                    stub.kill()
                    self.connection.close()
                    return
                status, payload = handler(method, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._do("GET")

            def do_POST(self):
                self._do("POST")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up (timeout tests) is expected, not an error

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kill(self) -> None:
        """Stop listening now (later connections are refused)."""
        threading.Thread(target=self.server.shutdown, daemon=True).start()
        self.server.socket.close()

    def close(self) -> None:
        try:
            self.kill()
        except OSError:
            pass


def openai_like(models=("m",), text="stub completion", fail_first: int = 0,
                fail_status: int = 503, sleep: float = 0.0):
    """A handler that serves ``models`` and answers every completion with ``text``."""
    state = {"failed": 0}

    def handler(method, path, body):
        if sleep:
            time.sleep(sleep)
        if state["failed"] < fail_first:
            state["failed"] += 1
            return fail_status, {"error": {"message": "try again", "type": "unavailable"}}
        if not path.startswith("/v1/"):
            return 404, {"detail": "Not Found"}
        if path.endswith("/models"):
            return 200, {"object": "list", "data": [{"id": m, "object": "model",
                                                     "owned_by": "stub", "created": 0}
                                                    for m in models]}
        if path.endswith("/completions") and body.get("model") not in models:
            return 404, {"error": {"message": f"model {body.get('model')} not found"}}
        if path.endswith("/chat/completions"):
            return 200, {"id": "x", "object": "chat.completion", "created": 0,
                         "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "length",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 3,
                                   "total_tokens": 4}}
        if path.endswith("/completions"):
            return 200, {"id": "x", "object": "text_completion", "created": 0,
                         "model": body["model"],
                         "choices": [{"index": 0, "text": text, "finish_reason": "length",
                                      "logprobs": None}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 3,
                                   "total_tokens": 4}}
        return 404, {"error": {"message": "not found"}}

    return handler


def unauthorized(method, path, body):
    return 401, {"error": {"message": "Unauthorized", "type": "invalid_api_key"}}


class DyingProxy:
    """An HTTP proxy to ``upstream`` that forwards ``die_after`` completions requests and then
    closes its socket: to the client, a server that died mid-run."""

    def __init__(self, upstream: str, die_after: int):
        import urllib.error
        import urllib.request

        def forward(method, path, body):
            url = upstream.rsplit("/v1", 1)[0] + path
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"{}")

        self.stub = Stub(forward, die_after=die_after)
        self.url = self.stub.url

    def close(self):
        self.stub.close()
