"""Generation engines behind one interface (:mod:`.base`): ``hf`` (the default), ``vllm``
(in-process ``vllm.LLM``), ``openai`` (any OpenAI-compatible server)."""
from __future__ import annotations

import difflib

from .base import Completion, Engine, EngineError, ModelRef

ENGINES = ("hf", "vllm", "openai")


def get_engine(name: str, **options) -> Engine:
    """The engine ``name`` built with ``options`` (its constructor's keyword arguments)."""
    if name not in ENGINES:
        close = difflib.get_close_matches(name, ENGINES, n=1)
        raise EngineError(f"unknown engine {name!r}{f' (did you mean {close[0]!r}?)' if close else ''}"
                          f"; known: {', '.join(ENGINES)}")
    if name == "hf":
        from .hf_engine import HFEngine as cls
    elif name == "vllm":
        from .vllm_engine import VLLMEngine as cls
    else:
        from .openai_engine import OpenAIEngine as cls
    try:
        return cls(**options)
    except TypeError as exc:
        raise EngineError(f"engine {name!r}: bad engine_options: {exc}") from None


__all__ = ["Completion", "ENGINES", "Engine", "EngineError", "ModelRef", "get_engine"]
