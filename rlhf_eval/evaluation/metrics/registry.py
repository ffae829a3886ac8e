"""Name -> metric factory, failing loudly with close-name suggestions (lm-evaluation-harness).

Built-in metrics are registered as ``"module:attribute"`` strings and imported only when asked
for, so importing this package stays cheap (no torch, sacrebleu or nltk at import time).
Other modules register theirs with :func:`register_metric` when they are imported
(``rlhf_eval.evaluation.model_metrics`` registers ``reward`` and ``kl`` that way, the lab's
``rlhf_eval.lab.metric`` registers ``gold``).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Callable, Union

from ...errors import ConfigError
from .base import Metric

Factory = Union[Callable[..., Metric], str]

_REGISTRY: dict[str, Factory] = {}

# Names whose metric lives in another module of this package; asking for one before it is
# registered imports that module once (its import registers the name).
_PROVIDERS: dict[str, str] = {
    "reward": "rlhf_eval.evaluation.model_metrics",
    "kl": "rlhf_eval.evaluation.model_metrics",
    "gold": "rlhf_eval.lab.metric",  # the lab's plug-in: evaluation never imports the lab
}


def _key(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"a metric name must be a non-empty string, found {name!r}")
    return name.strip().lower()


def register_metric(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Register ``factory(**options) -> Metric`` under ``name`` (case-insensitive).

    ``factory`` may be a class, a function, or a lazy ``"package.module:attribute"`` string.
    Registering a taken name raises unless ``replace=True`` (re-importing the same module
    re-registers the same factory, which is allowed).
    """
    key = _key(name)
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise ConfigError(f"metric {name!r}: factory must be callable or 'module:attribute', "
                          f"found {factory!r}")
    old = _REGISTRY.get(key)
    if old is not None and not replace and not _same(old, factory):
        raise ConfigError(f"metric {name!r} is already registered ({_describe(old)}); "
                          "pass replace=True to override it")
    _REGISTRY[key] = factory


def _same(a: Factory, b: Factory) -> bool:
    if a is b or a == b:
        return True
    qual = lambda f: f if isinstance(f, str) else f"{f.__module__}:{f.__qualname__}"  # noqa: E731
    return qual(a) == qual(b)


def _describe(f: Factory) -> str:
    return f if isinstance(f, str) else f"{f.__module__}.{getattr(f, '__qualname__', f)}"


def list_metrics() -> list[str]:
    """Registered names (built-ins, plus whatever other modules registered so far)."""
    return sorted(_REGISTRY)


def _resolve(key: str) -> Callable[..., Metric]:
    factory = _REGISTRY[key]
    if isinstance(factory, str):
        module_name, attr = factory.split(":", 1)
        factory = getattr(importlib.import_module(module_name), attr)
        _REGISTRY[key] = factory
    return factory


def get_metric(name: str, **options) -> Metric:
    """Build the metric registered as ``name`` with ``options`` (e.g. ``use_stemmer=True``)."""
    key = _key(name)
    if key not in _REGISTRY and key in _PROVIDERS:
        provider = _PROVIDERS[key]
        try:
            importlib.import_module(provider)
        except ImportError as exc:
            raise ConfigError(f"metric {name!r} is provided by {provider}, which cannot be "
                              f"imported: {exc}") from exc
        if key not in _REGISTRY:
            raise ConfigError(f"metric {name!r} is provided by {provider}, which did not "
                              "register it (register_metric)")
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY) + list(_PROVIDERS), n=3,
                                          cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"unknown metric {name!r}{hint} (available: "
                          f"{', '.join(list_metrics())})")
    factory = _resolve(key)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        allowed = _options_of(factory)
        raise ConfigError(f"metric {name!r}: {exc}; its options are: {allowed}") from None
    except ValueError:  # no introspectable signature: let the factory check
        pass
    return factory(**options)


def _options_of(factory) -> str:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return "(unknown)"
    names = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return ", ".join(names) or "(none)"
