"""What a judge needs from a language-model engine, and the in-process ``hf`` implementation.

A judge asks an engine two things about *user messages* (the engine applies the model's chat
template, so an OpenAI-compatible server that takes ``messages`` fits the same shape):

- :meth:`JudgeEngine.option_logprobs`: the log-probability of each option's first token as the
  first token of the assistant's reply (e.g. ``"A"``, ``"B"``, ``"C"``), shape (n, k). Engines
  that cannot give them set ``supports_logprobs = False`` and the judge parses generated text.
- :meth:`JudgeEngine.generate`: the greedy reply text.

Two implementations: :class:`HFEngine` (in-process transformers, batched: one forward pass per
prompt gives every option's first-token log-probability) and :class:`LMEngineJudge`, the judge on
the generation-engine layer (:mod:`rlhf_eval.lm.engines`): ``vllm`` in-process, or ``openai``
for any OpenAI-compatible server (``vllm serve``, SGLang, TGI, llama.cpp, Ollama).
:func:`make_engine` picks one by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ...errors import ConfigError, ModelError
from ...lm.engines import ENGINES  # torch-free: the one list of engine names


class JudgeEngine(Protocol):
    name: str
    supports_logprobs: bool

    def signature(self) -> str:
        """What changes the engine's answers: backend, model (content hash), dtype, versions."""

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """(n, k) log-probabilities of each option's first token as the reply's first token."""

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        """Greedy reply text per prompt."""

    def close(self) -> None:
        """Free the model (an in-process vLLM engine holds its memory until then)."""


@dataclass(frozen=True)
class HFEngineConfig:
    model: str                      # a folder or a Hugging Face id of a causal LM
    # auto: bf16 on CUDA, fp32 on CPU (measured here under load: a SmolLM2 forward of 6x160
    # tokens took 95 s in bf16 and 15 s in fp32 on one thread)
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 8
    max_prompt_tokens: int = 2048   # longer prompts are cut from the left (a warning names it)

    def __post_init__(self):
        if self.dtype not in ("auto", "bfloat16", "float32", "float16"):
            raise ConfigError(f"dtype must be auto, bfloat16, float32 or float16, found "
                              f"{self.dtype!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, found {self.batch_size}")


class HFEngine:
    """An in-process transformers causal LM; deterministic (greedy, no sampling)."""

    name = "hf"
    supports_logprobs = True

    def __init__(self, config: HFEngineConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ...models import pick_device

        self.config = config
        self.device = pick_device(config.device)
        self.dtype = config.dtype if config.dtype != "auto" else (
            "bfloat16" if self.device.type == "cuda" else "float32")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(config.model)
            self.model = AutoModelForCausalLM.from_pretrained(
                config.model, dtype=getattr(torch, self.dtype)).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load a causal LM from {config.model!r}: {exc}") from exc
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.n_truncated = 0
        self._signature = None

    def signature(self) -> str:
        if self._signature is None:
            import torch
            import transformers

            from ..model_metrics import path_fingerprint

            self._signature = (f"hf|model={path_fingerprint(self.config.model)}|"
                               f"dtype={self.dtype}|max_prompt={self.config.max_prompt_tokens}"
                               f"|torch={torch.__version__}|transformers={transformers.__version__}")
        return self._signature

    def render(self, prompt: str) -> str:
        """The model's chat template around one user message (plain text when it has none)."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return prompt

    def _encode(self, prompts: Sequence[str]):
        enc = self.tokenizer([self.render(p) for p in prompts], add_special_tokens=False)
        rows = []
        for ids in enc["input_ids"]:
            if len(ids) > self.config.max_prompt_tokens:
                self.n_truncated += 1
                ids = ids[-self.config.max_prompt_tokens:]
            rows.append(ids)
        return rows

    def option_token_ids(self, options: Sequence[str]) -> list[int]:
        ids = []
        for opt in options:
            toks = self.tokenizer.encode(opt, add_special_tokens=False)
            if not toks:
                raise ConfigError(f"option {opt!r} encodes to no token")
            ids.append(toks[0])
        if len(set(ids)) != len(ids):
            raise ConfigError(f"options {list(options)} share a first token: their "
                              "log-probabilities cannot tell them apart")
        return ids

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        import torch

        option_ids = torch.tensor(self.option_token_ids(options))
        rows = self._encode(prompts)
        out = np.zeros((len(rows), len(option_ids)))
        pad = self.tokenizer.pad_token_id
        bs = self.config.batch_size
        with torch.inference_mode():
            for start in range(0, len(rows), bs):
                chunk = rows[start:start + bs]
                T = max(len(r) for r in chunk)
                ids = torch.tensor([[pad] * (T - len(r)) + r for r in chunk])
                mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in chunk])
                # positions ignore the left padding, so a prompt's answer does not depend on
                # the batch it lands in
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                logits = self.model(input_ids=ids.to(self.device),
                                    attention_mask=mask.to(self.device),
                                    position_ids=pos.to(self.device)).logits[:, -1].float()
                logp = torch.log_softmax(logits, -1)[:, option_ids.to(self.device)]
                out[start:start + len(chunk)] = logp.cpu().numpy()
        return out

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        from ...lm.generate import generate_greedy   # the project's one sampler

        return generate_greedy(self.model, self.tokenizer, [self.render(p) for p in prompts],
                               max_new_tokens=max_new_tokens,
                               batch_size=self.config.batch_size,
                               max_prompt_tokens=self.config.max_prompt_tokens)

    def close(self) -> None:
        self.model = None


class LMEngineJudge:
    """A judge on a generation engine of :mod:`rlhf_eval.lm.engines` (``vllm`` or ``openai``).

    ``model`` is a local folder (its tokenizer renders the chat template here, as for every
    engine, and the ``openai`` engine sends it under its path, the name ``vllm serve DIR`` gives
    it) or, for ``openai``, a name the server serves. A served name has no local tokenizer: the
    server's chat endpoint renders the prompt, and no option log-probabilities can be asked for
    (``supports_logprobs`` is False; the judge parses generated answers).

    Option log-probabilities are ``Engine.score_options``: ``log p(option | prompt)`` summed
    over the option's tokens, which for the built-in one-letter labels is the first-token
    log-probability the ``hf`` judge reads."""

    def __init__(self, engine, model: str, *, engine_options: dict | None = None,
                 batch_size: int = 8, max_prompt_tokens: int = 2048):
        """``engine``: a name (``vllm``/``openai``, built with ``engine_options``) or an
        engine already running (e.g. the one an eval suite generated with: no second load)."""
        from pathlib import Path

        from ...lm.engines import ModelRef, get_engine

        self._owns = isinstance(engine, str)   # close only an engine built here
        if self._owns:
            engine = get_engine(engine, **(engine_options or {}))
        self.engine, self.name = engine, engine.name
        self.model_id = model
        self.batch_size, self.max_prompt_tokens = batch_size, max_prompt_tokens
        self.n_truncated = 0
        # vllm loads any folder or hub id; openai: a local folder, else a served name
        files = self.name == "vllm" or Path(model).is_dir()
        self.tokenizer = None
        if files:
            from ...models import load_tokenizer

            self.tokenizer = load_tokenizer(model)
        self.supports_logprobs = self.tokenizer is not None
        self.model = ModelRef(model, path=model if files else None,
                              served_name=None if files else model, tokenizer=self.tokenizer)
        self.engine.check(self.model)   # fail fast: a bad endpoint or an unserved model
        self._signature = None

    def signature(self) -> str:
        if self._signature is None:
            from ..model_metrics import path_fingerprint

            # where the answers come from: a served name says little without the server's URL,
            # and vLLM's own settings (dtype, quantization) change the numbers
            # (LoRA switches do not change prompt log-probs, and score_options turns LoRA off)
            vllm_kw = {k: v for k, v in getattr(self.engine, "llm_kwargs", {}).items()
                       if k not in ("enable_lora", "max_lora_rank")}
            where = {"openai": getattr(self.engine, "base_url", ""),
                     "vllm": repr(sorted(vllm_kw.items()))}
            self._signature = (f"{self.name}:{self.engine.version()}|model="
                               f"{path_fingerprint(self.model_id)}|at={where.get(self.name, '')}"
                               f"|max_prompt={self.max_prompt_tokens}")
        return self._signature

    def render(self, prompt: str):
        """The chat-templated text (a message list when only the server has the template)."""
        if self.tokenizer is None:
            return [{"role": "user", "content": prompt}]
        from ...lm.chat import render

        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        text = render(self.tokenizer, prompt, chat_template="tokenizer" if has_template else None)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_prompt_tokens:   # cut from the left, as the hf judge does
            self.n_truncated += 1
            text = self.tokenizer.decode(ids[-self.max_prompt_tokens:])
        return text

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        if not self.supports_logprobs:
            raise ConfigError(f"judge engine {self.name!r} with the served model "
                              f"{self.model_id!r} has no local tokenizer: use mode 'parse'")
        rendered = [self.render(p) for p in prompts]
        return np.asarray(self.engine.score_options(self.model, rendered,
                                                    [list(options)] * len(rendered)), float)

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        from ...lm.generate import GenerationSettings

        settings = GenerationSettings(max_new_tokens=max_new_tokens, batch_size=self.batch_size,
                                      max_prompt_tokens=self.max_prompt_tokens)
        outs = self.engine.generate(self.model, [self.render(p) for p in prompts],
                                    [f"judge{k}" for k in range(len(prompts))], settings)
        return [c.text for c in outs]

    def close(self) -> None:
        if self._owns:
            self.engine.close()



def make_engine(engine: str, model: str, *, engine_options: dict | None = None,
                **options) -> JudgeEngine:
    """A judge engine by name; ``model`` may be ``smollm2`` (the bundled SmolLM2-135M-Instruct).

    ``options``: ``batch_size``, ``max_prompt_tokens`` (every engine), ``dtype``, ``device``
    (``hf``); ``engine_options``: the ``vllm``/``openai`` engine's constructor arguments
    (``base_url``, ``api_key_env``, ``concurrency``, ``timeout``, ``max_retries``, ...)."""
    if model == "smollm2":
        from ...smollm2 import smollm2_path

        model = smollm2_path()
    if engine == "hf":
        if engine_options:
            raise ConfigError(f"engine options {sorted(engine_options)} apply to the vllm and "
                              "openai judge engines, not hf")
        return HFEngine(HFEngineConfig(model=model, **options))
    if engine in ("vllm", "openai"):
        unknown = set(options) - {"batch_size", "max_prompt_tokens"}
        if unknown:
            raise ConfigError(f"judge engine {engine!r} takes no option(s) {sorted(unknown)}")
        return LMEngineJudge(engine, model, engine_options=engine_options, **options)
    raise ConfigError(f"unknown judge engine {engine!r}; expected one of {', '.join(ENGINES)}")
