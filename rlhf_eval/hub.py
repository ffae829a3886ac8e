"""Hugging Face Hub ids versus local folders, and offline detection done once, fast.

Without this, an unreachable Hub costs every ``from_pretrained`` of a Hub id 30-60 s of
retries and a screen of warnings before its error. Here offline is decided once per process:
``HF_HUB_OFFLINE`` set, or one TCP connection to the Hub endpoint failing within
:data:`CONNECT_TIMEOUT`; then ``HF_HUB_OFFLINE=1`` is set for huggingface_hub/transformers/peft
(no retries), and a Hub id that is not in the local cache fails at once, naming the id.

Only the standard library is imported at module level (the CLI validates its configuration
before torch or transformers are imported).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from .errors import ModelError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.5   # seconds for the one probe connection
_TRUE = {"1", "on", "yes", "true"}
# huggingface_hub's repo-id rule: [namespace/]name, letters, digits, - _ . (no '--', '..')
_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")


def looks_like_hub_id(name: str) -> bool:
    """``gpt2`` or ``org/name``, and not a folder that exists here."""
    s = str(name)
    return (bool(_REPO_ID.match(s)) and ".." not in s and "--" not in s
            and not Path(s).exists())


def _endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


@functools.lru_cache(maxsize=1)
def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set or the Hub cannot be reached (decided once)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    host, port = _endpoint()
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        return False
    except OSError as exc:
        log.info("the Hugging Face Hub (%s) cannot be reached (%s): working offline", host,
                 exc)
        go_offline()
        return True


def go_offline() -> None:
    """Tell huggingface_hub, transformers and peft not to try the network (no retries)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: its flag was read at import time
        constants.HF_HUB_OFFLINE = True


def in_cache(repo_id: str) -> bool:
    """Whether a Hub model is in the local cache (its config or adapter config)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False
    for filename in ("config.json", "adapter_config.json", "tokenizer_config.json"):
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str):
            return True
    return False


def check_model_source(name: str, what: str = "model") -> str:
    """``name`` if it can be loaded: an existing folder, or a Hub id that is reachable or
    cached. Otherwise a :class:`ModelError` that names it (and ``what`` it is), in well under
    a second: a missing folder is never mistaken for a Hub id and vice versa."""
    if name is None or str(name) == "":
        raise ModelError(f"{what}: no model given")
    s = str(name)
    if Path(s).exists():
        return s
    if not looks_like_hub_id(s):
        raise ModelError(f"{what} {s!r}: no such folder (and not a Hugging Face Hub id)")
    if is_offline() and not in_cache(s):
        raise ModelError(f"{what} {s!r}: not a local folder, and the Hugging Face Hub id "
                         f"{s!r} is not in the local cache while the Hub cannot be reached "
                         "(offline); download it where there is network, or pass a folder")
    return s


def problem_with_source(name: str, what: str) -> str | None:
    """:func:`check_model_source` as a message (for collecting all configuration problems)."""
    try:
        check_model_source(name, what)
    except ModelError as exc:
        return str(exc)
    return None
