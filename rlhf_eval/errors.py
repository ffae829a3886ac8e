"""Errors that tell the user what was expected, what was found, and where.

Every data problem is raised as a :class:`DataError` carrying the file, the 1-based line (or
record index for formats without lines) and the field, so the CLI can print
``data.jsonl:17: field 'chosen': expected a non-empty string, found ''`` and exit non-zero.
"""
from __future__ import annotations

from dataclasses import dataclass


class RlhfEvalError(Exception):
    """Base class: the CLI turns these into a one-line message and exit code 2."""


@dataclass(frozen=True)
class Location:
    path: str | None = None
    line: int | None = None  # 1-based line for text formats, 1-based row/record otherwise
    field: str | None = None
    # what `line` counts: "line" (JSONL/JSON/CSV: the line in the file, so an editor can jump
    # there) or "row" (Parquet, Hugging Face datasets: 1-based row index); "item" for adapters
    # whose input unit is a key (SummEval doc ids), where `line` stays None and `path` says it.
    unit: str = "line"

    def __str__(self) -> str:
        where = self.path or "<data>"
        if self.line is not None:
            where += f":{self.line}" if self.unit == "line" else f": {self.unit} {self.line}"
        if self.field:
            where += f": field '{self.field}'"
        return where


class DataError(RlhfEvalError, ValueError):
    """A record or file that does not match the expected schema."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None, unit: str = "line"):
        self.location = Location(path, line, field, unit)
        self.reason = message
        super().__init__(f"{self.location}: {message}")

    def at(self, *, path: str | None = None, line: int | None = None,
           unit: str | None = None) -> "DataError":
        """The same error with the file/line filled in by the reader that knows them."""
        return DataError(self.reason, path=path or self.location.path,
                         line=line if line is not None else self.location.line,
                         field=self.location.field, unit=unit or self.location.unit)


class ConfigError(RlhfEvalError, ValueError):
    """A configuration key or value that is unknown or invalid. ``problems`` lists every
    problem found when several are reported at once."""

    def __init__(self, message: str = "", *, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class ModelError(RlhfEvalError, ValueError):
    """A model or tokenizer that cannot be used the way it was asked for."""
