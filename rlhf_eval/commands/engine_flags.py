"""The generation-engine flags, one definition for every command that runs a language model
(``eval`` generates with it; ``judge`` and ``winrate`` judge with it)."""
from __future__ import annotations

import argparse

from ..lm.engines import ENGINES as ENGINE_CHOICES  # torch-free
# flag destination -> engine constructor argument (EvalConfig.engine_options, make_engine)
ENGINE_FLAGS = {"base_url": "base_url", "api_key_env": "api_key_env",
                "concurrency": "concurrency", "request_timeout": "timeout",
                "max_retries": "max_retries"}


def add_engine_arguments(p: argparse.ArgumentParser, *, default: str | None = None,
                         what: str = "generation") -> None:
    p.add_argument("--engine", choices=ENGINE_CHOICES, default=default,
                   help=f"{what} engine (default: hf)")
    p.add_argument("--base-url", help="openai engine: the server's URL (e.g. "
                   "http://127.0.0.1:8000/v1)")
    p.add_argument("--api-key-env", help="openai engine: environment variable holding the API "
                   "key (default: OPENAI_API_KEY)")
    p.add_argument("--concurrency", type=int, help="openai engine: requests in flight")
    p.add_argument("--request-timeout", type=float, help="openai engine: seconds per request")
    p.add_argument("--max-retries", type=int, help="openai engine: retries with backoff")


def engine_options(args: argparse.Namespace) -> dict:
    """The engine constructor arguments given as flags (those left unset are absent)."""
    return {opt: getattr(args, name) for name, opt in ENGINE_FLAGS.items()
            if getattr(args, name, None) is not None}
