"""Chat prompts: an eval prompt is a plain string or a list of ``{"role", "content"}`` messages.

Messages are rendered to text with the tokenizer's chat template (or a template file the user
names) ONCE, here, and every engine is given that same text (or its token ids): the server's
own chat endpoint is used only when no local tokenizer exists (a model the server serves by
name), see :mod:`rlhf_eval.lm.engines.openai_engine`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence, Union

from ..errors import ConfigError, DataError

Messages = list  # list of {"role": str, "content": str}
Prompt = Union[str, Messages]

ROLES = ("system", "user", "assistant", "tool")


def check_messages(value: Any, *, path: str | None = None, line: int | None = None) -> Messages:
    """``value`` as a validated message list (errors name file, line and field)."""
    if not isinstance(value, list) or not value:
        raise DataError("expected a non-empty string or a non-empty list of chat messages",
                        path=path, line=line, field="prompt")
    for k, m in enumerate(value):
        where = f"prompt[{k}]"
        if not isinstance(m, dict) or set(m) - {"role", "content", "name"}:
            raise DataError("expected a message {role, content}", path=path, line=line,
                            field=where)
        if m.get("role") not in ROLES:
            raise DataError(f"expected role in {ROLES}, found {m.get('role')!r}", path=path,
                            line=line, field=f"{where}.role")
        if not isinstance(m.get("content"), str):
            raise DataError("expected a string", path=path, line=line, field=f"{where}.content")
    return [dict(m) for m in value]


def prompt_key(prompt: Prompt) -> str:
    """The string a prompt is stored and identified by (messages as canonical JSON)."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def load_template(spec: str | None) -> str | None:
    """``--chat-template``: ``None`` (automatic), ``"tokenizer"`` (the tokenizer's own,
    also for plain-string prompts) or a Jinja template file."""
    if spec in (None, ""):
        return None
    if spec == "tokenizer":
        return spec
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"chat_template: {spec!r} is neither 'tokenizer' nor a template file")
    return path.read_text(encoding="utf-8")


def render(tokenizer, prompt: Prompt, *, chat_template: str | None = None) -> str:
    """The text an engine continues. Strings stay as they are unless ``chat_template`` is
    given (then they become one user message); messages always use a template: the
    given one, else the tokenizer's (an error when it has none)."""
    if isinstance(prompt, str) and chat_template is None:
        return prompt
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    template = None if chat_template == "tokenizer" else chat_template
    if template is None and not getattr(tokenizer, "chat_template", None):
        raise ConfigError("the prompts are chat messages but the tokenizer has no chat "
                          "template: pass --chat-template FILE (a Jinja template)")
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=True)


def render_all(tokenizer, prompts: Sequence[Prompt], *, chat_template: str | None = None
               ) -> list[str]:
    return [render(tokenizer, p, chat_template=chat_template) for p in prompts]
