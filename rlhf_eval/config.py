"""Frozen, typed dataclass configs: defaults < YAML file < command-line flags.

Unknown keys fail loudly (with the closest known name), so a typo in a YAML file can never be
silently ignored. Nested dataclasses are filled from nested mappings.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
        return from_dict(annotation, value, where=where)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: cannot interpret {value!r} as {annotation}")
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool) and not isinstance(value, annotation):
        if annotation is float and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected {annotation.__name__}, found "
                          f"{type(value).__name__} {value!r}")
    return value


def from_dict(cls: type[T], values: Mapping[str, Any], *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys raise :class:`ConfigError`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}{_suggest(unknown[0], list(fields))}"
                          f"; known keys: {', '.join(sorted(fields))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def load_config(cls: type[T], path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> T:
    """Defaults of ``cls``, updated by the YAML file at ``path``, then by ``overrides``
    (typically the CLI flags the user actually gave; ``None`` values are ignored)."""
    return from_dict(cls, merged_values(path, overrides),
                     where=str(path) if path else "config")


def merged_values(path: str | Path | None = None,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The YAML file's values updated by the non-None ``overrides`` (not yet checked)."""
    import yaml

    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        values.update(loaded)
    for k, v in (overrides or {}).items():
        if v is not None:
            values[k] = v
    return values


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON/YAML-ready dict of a (nested) dataclass config."""
    return dataclasses.asdict(config)
