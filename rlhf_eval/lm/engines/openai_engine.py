"""The ``openai`` engine: any OpenAI-compatible server (``vllm serve``, SGLang, TGI,
llama.cpp server, Ollama) through ``/v1/completions`` (``/v1/chat/completions`` for chat
prompts of a model that has no local tokenizer).

Everything that can go wrong with an endpoint is explicit here: a per-request ``timeout``, a
``concurrency`` limit (requests in flight; the server batches them), ``max_retries`` with
exponential ``backoff`` on connection errors, timeouts, 408/409/429 and 5xx (never on other
4xx: a wrong key or model name does not get better), and a start-up :meth:`check` that lists
the served models. Every failure is one line naming the URL and the cause.

Prompts go as token ids when a local tokenizer exists (``send_token_ids``, default): the server
then continues exactly the tokens the ``hf`` engine would (same truncation, no second
tokenizer); servers that accept only text (Ollama, some TGI versions) need
``send_token_ids: false``. Sampling is seeded per sample (``seed`` from ``(seed, sample_id)``)
where the server honours ``seed`` (vLLM does), so a completion does not depend on batching.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from .base import Completion, Engine, EngineError, ModelRef

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def sample_seed(seed: int, sample_id: str) -> int:
    digest = hashlib.sha256(json.dumps([seed, sample_id]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _root_cause(exc: BaseException) -> str:
    """The innermost cause, in words (ConnectionRefusedError -> 'connection refused')."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    text = str(seen) or type(seen).__name__
    low = text.lower()
    if isinstance(seen, ConnectionRefusedError) or "connection refused" in low:
        return "connection refused (is the server running on that host and port?)"
    if "name or service not known" in low or "nodename nor servname" in low \
            or "temporary failure in name resolution" in low:
        return "unknown host name"
    if isinstance(seen, ConnectionResetError) or "reset" in low or "disconnected" in low \
            or "incomplete" in low or "closed" in low:
        return f"the server closed the connection ({type(seen).__name__}: {text})"
    return f"{type(seen).__name__}: {text}"


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(self, *, base_url: str = "http://127.0.0.1:8000/v1",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 60.0, connect_timeout: float = 5.0, max_retries: int = 3,
                 backoff: float = 0.5, send_token_ids: bool = True,
                 return_token_ids: bool | None = None):
        import openai

        if concurrency < 1 or max_retries < 0 or timeout <= 0 or backoff < 0:
            raise EngineError("openai engine: concurrency >= 1, max_retries >= 0, timeout > 0 "
                              "and backoff >= 0 are required")
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency, self.max_retries, self.backoff = concurrency, max_retries, backoff
        self.send_token_ids = send_token_ids
        # vLLM's extension: the completion's token ids, decoded here with the local tokenizer
        # exactly as the hf engine decodes (the server's incremental detokenizer drops an
        # unfinished UTF-8 sequence at the end). None: on when the server says it is vLLM.
        self.return_token_ids = return_token_ids
        self.requests = 0            # HTTP requests sent (retries included), for tests/benchmarks
        key = os.environ.get(api_key_env) or "EMPTY"  # vLLM without --api-key accepts anything
        self._has_key = api_key_env in os.environ
        timeouts = openai.Timeout(timeout, connect=connect_timeout)
        # requests in flight are bounded by the thread pool below (``concurrency``)
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeouts,
                                    max_retries=0)  # retries: ours, see _call
        self._pool = ThreadPoolExecutor(max_workers=concurrency)
        self._served: list[str] | None = None
        self._server_version = ""

    # ------------------------------------------------------------------ errors and retries

    def _fail(self, exc: BaseException, what: str) -> EngineError:
        import openai

        where = f"openai engine at {self.base_url}"
        if isinstance(exc, openai.AuthenticationError):
            hint = (f"${self.api_key_env} is set but was refused" if self._has_key else
                    f"set ${self.api_key_env} to the server's API key")
            return EngineError(f"{where}: HTTP 401 unauthorized on {what} ({hint})")
        if isinstance(exc, openai.NotFoundError):
            return EngineError(f"{where}: HTTP 404 on {what}: no OpenAI-compatible API at this "
                               "URL, or the model is not served (the base URL usually ends "
                               "in /v1)")
        if isinstance(exc, openai.APITimeoutError):
            return EngineError(f"{where}: no answer to {what} within the timeout")
        if isinstance(exc, openai.APIStatusError):
            body = str(getattr(exc, "message", "") or exc).splitlines()[0][:200]
            return EngineError(f"{where}: HTTP {exc.status_code} on {what}: {body}")
        if isinstance(exc, openai.APIConnectionError):
            return EngineError(f"{where}: {what} failed: {_root_cause(exc)}")
        return EngineError(f"{where}: {what} failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}")

    def _retryable(self, exc: BaseException) -> bool:
        import openai

        if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
            return True
        return isinstance(exc, openai.APIStatusError) and exc.status_code in RETRY_STATUS

    def _call(self, fn, what: str):
        """``fn()`` with up to ``max_retries`` retries, waiting backoff * 2**k between them."""
        for attempt in range(self.max_retries + 1):
            self.requests += 1
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001  mapped to one line below
                if attempt == self.max_retries or not self._retryable(exc):
                    raise self._fail(exc, what) from None
                time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ interface

    def served_models(self) -> list[str]:
        if self._served is None:
            page = self._call(lambda: self.client.models.list(), "GET /models")
            self._served = [m.id for m in page.data]
            if self.return_token_ids is None:
                self.return_token_ids = any(getattr(m, "owned_by", "") == "vllm"
                                            for m in page.data)
        return self._served

    def version(self) -> str:
        return ""  # the server's version is not part of the OpenAI API; the model id is

    def model_name(self, model: ModelRef) -> str:
        return model.served_name or model.path or model.name

    def check(self, model: ModelRef) -> None:
        name, served = self.model_name(model), self.served_models()
        if name not in served:
            raise EngineError(f"openai engine at {self.base_url}: model {name!r} is not "
                              f"served; the server serves {', '.join(map(repr, served)) or 'nothing'}")

    def _one(self, model: ModelRef, prompt, sample_id: str, settings) -> Completion:
        name = self.model_name(model)
        tok = model.tokenizer
        kw = dict(model=name, max_tokens=settings.max_new_tokens,
                  temperature=settings.temperature if settings.do_sample else 0.0,
                  stop=list(settings.stop) or None)
        extra = {}
        if settings.do_sample:
            kw["seed"] = sample_seed(settings.seed, sample_id)
            if settings.top_p < 1.0:
                kw["top_p"] = settings.top_p
            if settings.top_k > 0:
                extra["top_k"] = settings.top_k  # not in OpenAI's API; vLLM/SGLang take it
        if tok is not None and tok.pad_token_id is not None:
            # the hf sampler never emits the pad token (it marks the end of a row)
            kw["logit_bias"] = {str(tok.pad_token_id): -100}
        if self.return_token_ids is None:
            self.served_models()
        if self.return_token_ids:
            extra["return_token_ids"] = True
        if extra:
            kw["extra_body"] = extra
        if not isinstance(prompt, str):     # chat messages and no local tokenizer
            r = self._call(lambda: self.client.chat.completions.create(messages=prompt, **kw),
                           f"POST /chat/completions (model {name!r})")
            c = r.choices[0]
            return Completion(c.message.content or "", r.usage.completion_tokens
                              - (c.finish_reason == "stop" and not settings.stop), 
                              "stop" if c.finish_reason == "stop" else "length")
        if tok is not None and self.send_token_ids:
            from ..encode import encode_prompts

            enc = encode_prompts(tok, [prompt], settings.max_prompt_tokens)
            p = [int(t) for t, m in zip(enc.input_ids[0].tolist(),
                                        enc.attention_mask[0].tolist()) if m]
        else:
            p = prompt
        r = self._call(lambda: self.client.completions.create(prompt=p, logprobs=0, **kw),
                       f"POST /completions (model {name!r})")
        c = r.choices[0]
        lps = None
        if c.logprobs is not None and c.logprobs.token_logprobs:
            lps = [float(x) for x in c.logprobs.token_logprobs if x is not None]
        ids = getattr(c, "token_ids", None) or (c.model_extra or {}).get("token_ids")
        if ids is not None and tok is not None:
            from .hf_engine import finish

            out = finish(tok, [t for t in ids if t != tok.eos_token_id], settings)
            out.logprobs = lps
            return out
        n = r.usage.completion_tokens
        stop_reason = getattr(c, "stop_reason", None)  # vLLM: None = EOS, str = stop string
        if c.finish_reason == "stop" and not isinstance(stop_reason, str):
            n -= 1                       # the EOS is counted by the server, not by us
        return Completion(c.text, max(n, 0), "stop" if c.finish_reason == "stop" else "length",
                          logprobs=lps, extra={"tokens": c.logprobs.tokens if c.logprobs
                                               else None})

    def generate(self, model: ModelRef, prompts: Sequence, sample_ids: Sequence[str],
                 settings) -> list[Completion]:
        futures = [self._pool.submit(self._one, model, p, sid, settings)
                   for p, sid in zip(prompts, sample_ids)]
        out, first_error = [], None
        for f in futures:  # wait for all: none may still write after we raise
            try:
                out.append(f.result())
            except EngineError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return out

    def score_options(self, model: ModelRef, prompts, options):
        """Via ``echo=True, logprobs=1, max_tokens=1`` on the prompt's and the option's token
        ids (:func:`.base.prompt_ids`, :func:`.base.option_ids`, as the hf and vllm engines
        score them): the server returns the prompt tokens' log-probs by position (vLLM does;
        OpenAI's own API no longer does). Token ids, not text: a server that adds BOS to text
        would shift every position."""
        from .base import option_ids, prompt_ids

        name, tok = self.model_name(model), model.tokenizer
        if tok is None:
            raise EngineError(f"openai engine at {self.base_url}: option log-probs need the "
                              f"model's tokenizer locally ({name!r} is only a served name)")

        def echoed(ids):
            r = self._call(lambda: self.client.completions.create(
                model=name, prompt=ids, echo=True, logprobs=1, max_tokens=1,
                temperature=0.0), f"POST /completions echo (model {name!r})")
            lp = r.choices[0].logprobs
            return (lp.token_logprobs or []) if lp is not None else []

        out = []
        for prompt, opts in zip(prompts, options):
            p_ids, row = prompt_ids(tok, prompt), []
            for opt in opts:
                o_ids = option_ids(tok, prompt, opt, p_ids)
                lps = echoed(p_ids + o_ids)[len(p_ids):len(p_ids) + len(o_ids)]
                if len(lps) != len(o_ids) or any(x is None for x in lps):
                    raise EngineError(
                        f"openai engine at {self.base_url}: no prompt log-probs for option "
                        f"{opt!r} (the server must support echo=True with logprobs, as vLLM "
                        "does); judge with mode 'parse' instead")
                row.append(float(sum(lps)))
            out.append(row)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()
