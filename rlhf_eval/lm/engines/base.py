"""The engine interface: what every generation backend (hf, vllm, openai) does.

An engine turns rendered prompts into completions for one model at a time::

    engine = get_engine("openai", base_url="http://127.0.0.1:8000/v1")
    engine.check(model)                       # fail fast: a bad endpoint or model name
    outs = engine.generate(model, prompts, sample_ids, settings)   # -> [Completion]
    engine.close()

``model`` is a :class:`ModelRef`: a local folder (full weights or peft adapters) and its
tokenizer, or a name the server already serves (``openai`` only). ``prompts`` are strings (chat
messages are rendered by :mod:`rlhf_eval.lm.chat` before they get here, the same for every
engine), ``sample_ids`` seed per-sample sampling where the engine supports it, so that a
completion does not depend on the batch it lands in.

Log-probabilities (for LLM judges, issue 17): :meth:`Engine.score_options` returns, for each
prompt, the summed log-probability of each option continuation (``log p(option | prompt)``),
where the engine can: ``hf`` (exact forward pass), ``vllm`` (``prompt_logprobs``),
``openai`` (``/v1/completions`` with ``echo=True, logprobs=1, max_tokens=0`` on servers that
support echo, e.g. vLLM); others raise :class:`EngineError`. :class:`Completion` carries the
sampled tokens' log-probs where the engine returns them (vllm, openai).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

from ...errors import RlhfEvalError


class EngineError(RlhfEvalError, RuntimeError):
    """An engine or endpoint that cannot do what was asked; one line: where and why."""


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """``prompt``'s token ids as the hf judge encodes rendered prompts: no special tokens added
    (a chat template writes its own BOS; a second one would change the numbers), no trailing
    EOS (a prompt is not finished text). Never empty."""
    ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if ids and ids[-1] == getattr(tokenizer, "eos_token_id", None):
        ids = ids[:-1]
    if not ids:
        raise EngineError("an empty prompt has no position to score an option from")
    return ids


def option_ids(tokenizer, prompt: str, option: str, own: list[int]) -> list[int]:
    """The token ids of ``option`` continuing ``prompt`` (whose ids, :func:`prompt_ids`, are
    ``own``: encoded once per prompt, not once per option): the tail of ``prompt + option``
    tokenized together when ``own`` is its prefix, else (the option merged with the prompt's
    last token, e.g. ``"Answer: "`` + ``"A"`` -> ``" A"``) the option tokenized on its own.
    Never empty: an empty span would give every option log-prob 0."""
    joint = tokenizer(prompt + option, add_special_tokens=False)["input_ids"]
    if joint[:len(own)] == own and len(joint) > len(own):
        ids = joint[len(own):]
    else:
        ids = tokenizer(option, add_special_tokens=False)["input_ids"]
    eos = getattr(tokenizer, "eos_token_id", None)
    if ids and ids[-1] == eos:
        ids = ids[:-1]
    if not ids:
        raise EngineError(f"option {option!r} encodes to no token after the prompt")
    return list(ids)


@dataclass(frozen=True)
class ModelRef:
    """What to generate with. ``path``: a local folder or hub id (hf/vllm load it; ``openai``
    sends ``served_name`` or the path as the model name). ``served_name``: a model the server
    already serves (``--checkpoint NAME=MODEL_ID``); ``tokenizer``: the loaded tokenizer used to
    render and encode prompts (None for a served model without local files)."""

    name: str
    path: str | None = None
    served_name: str | None = None
    tokenizer: object = None


@dataclass
class Completion:
    text: str
    n_tokens: int                       # new tokens before EOS (EOS itself not counted)
    finish_reason: str = "length"       # "stop" (EOS or a stop string) | "length"
    token_ids: list[int] | None = None  # where the engine returns them
    logprobs: list[float] | None = None  # per new token, where the engine returns them
    extra: dict = field(default_factory=dict)


class Engine(ABC):
    """One backend. Subclasses set ``name`` and implement :meth:`generate`."""

    name: str = "?"

    def version(self) -> str:
        """Library (and server) versions that can change completions."""
        return ""

    def signature(self, settings) -> str:
        """The generation signature stored with every completion: engine, its version and
        every setting that changes the output."""
        return f"engine={self.name}:{self.version()}|{settings.settings_key()}"

    def check(self, model: ModelRef) -> None:
        """Raise :class:`EngineError` now (before anything is written) when ``model`` cannot
        be served."""

    @abstractmethod
    def generate(self, model: ModelRef, prompts: Sequence[str], sample_ids: Sequence[str],
                 settings) -> list[Completion]:
        """One :class:`Completion` per prompt, in order."""

    def score_options(self, model: ModelRef, prompts: Sequence[str],
                      options: Sequence[Sequence[str]]) -> list[list[float]]:
        """``out[i][j] = log p(options[i][j] | prompts[i])`` summed over the option's tokens."""
        raise EngineError(f"engine {self.name!r} does not return log-probabilities")

    def close(self) -> None:
        """Free models, sessions, worker processes."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
