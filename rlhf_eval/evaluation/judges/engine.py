"""What a judge needs from a language-model engine, and the in-process ``hf`` implementation.

A judge asks an engine two things about *user messages* (the engine applies the model's chat
template, so an OpenAI-compatible server that takes ``messages`` fits the same shape):

- :meth:`JudgeEngine.option_logprobs`: the log-probability of each option's first token as the
  first token of the assistant's reply (e.g. ``"A"``, ``"B"``, ``"C"``), shape (n, k). Engines
  that cannot give them set ``supports_logprobs = False`` and the judge parses generated text.
- :meth:`JudgeEngine.generate`: the greedy reply text.

This is the one file that changes when the generation-engine layer (``rlhf_eval/lm/``: hf |
vllm | openai) lands: ``make_engine`` then wraps those engines instead of loading a model here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ...errors import ConfigError, ModelError


class JudgeEngine(Protocol):
    name: str
    supports_logprobs: bool

    def signature(self) -> str:
        """What changes the engine's answers: backend, model (content hash), dtype, versions."""

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """(n, k) log-probabilities of each option's first token as the reply's first token."""

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        """Greedy reply text per prompt."""


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


ENGINES = ("hf",)


def make_engine(engine: str, model: str, **options) -> JudgeEngine:
    """An engine by name; ``model`` may be ``smollm2`` (the bundled SmolLM2-135M-Instruct)."""
    if model == "smollm2":
        from ...smollm2 import smollm2_path

        model = smollm2_path()
    if engine == "hf":
        return HFEngine(HFEngineConfig(model=model, **options))
    raise ConfigError(f"unknown judge engine {engine!r}; expected one of {ENGINES} (vllm and "
                      "openai arrive with the generation-engine layer)")
