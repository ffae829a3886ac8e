"""Typed records for preference and judgment data, with validation.

The shapes follow what TRL and the Hugging Face hub use, so data moves between tools without
conversion:

- :class:`PreferencePair`  ``prompt, chosen, rejected`` (+ ``margin``, ``annotator``, ``meta``)
- :class:`Ranking`         K completions for one prompt, best first; expands to K(K-1)/2 pairs
                           as in InstructGPT (Ouyang et al. 2022, sec. 3.5)
- :class:`Sample`          a pointwise ``prompt``/``completion`` with references and a system
- :class:`Judgement`       a human (or simulated) score of one sample on one aspect
- :class:`PairwiseChoice`  a human choice between two samples: ``a``, ``b`` or ``tie``

``from_dict`` validates and raises :class:`~rlhf_eval.errors.DataError` naming the field;
readers in :mod:`rlhf_eval.io` add the file and line.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Iterator, Mapping

from .errors import DataError

# ---------------------------------------------------------------------------------------------
# field checks: each returns the clean value or raises DataError(field=name)


def _is_conversation(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and
            all(isinstance(m, Mapping) and "role" in m and "content" in m for m in value))


def format_hint(d: Mapping[str, Any]) -> str:
    """Why a record of a known other layout did not parse, and the flag that reads it."""
    if any(_is_conversation(d.get(k)) for k in ("prompt", "chosen", "rejected", "completion",
                                                 "messages")):
        return ("; this looks like conversational data (lists of {role, content} messages, "
                "TRL's layout): pass --adapter trl")
    if "prompt" not in d and any(isinstance(d.get(k), str) and "\n\nHuman:" in d[k]
                                 for k in ("chosen", "rejected")):
        return ("; this looks like raw HH-RLHF (whole '\\n\\nHuman: ... \\n\\nAssistant:' "
                "dialogues in chosen/rejected): pass --adapter hh-rlhf")
    return ""


def _required(d: Mapping[str, Any], name: str) -> Any:
    if name not in d or d[name] is None:
        raise DataError(f"required field is missing (found keys: {sorted(d)}){format_hint(d)}",
                        field=name)
    return d[name]


def _text(d: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = _required(d, name)
    if not isinstance(value, str):
        raise DataError(f"expected a string, found {type(value).__name__} {value!r:.60}"
                        f"{format_hint(d)}", field=name)
    if not allow_empty and not value.strip():
        raise DataError("expected a non-empty string, found an empty one", field=name)
    return value


def _opt_text(d: Mapping[str, Any], name: str) -> str | None:
    if d.get(name) is None:
        return None
    return _text(d, name)


def _number(d: Mapping[str, Any], name: str, *, required: bool = True) -> float | None:
    value = d.get(name)
    if value is None:
        if required:
            _required(d, name)
        return None
    # bool is an int subclass; a True score is a bug in the producer, not a number
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"expected a number, found {type(value).__name__} {value!r:.60}",
                        field=name)
    if value != value or value in (float("inf"), float("-inf")):
        raise DataError(f"expected a finite number, found {value}", field=name)
    return float(value)


def _text_list(d: Mapping[str, Any], name: str, *, min_len: int = 0) -> list[str]:
    value = d.get(name)
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise DataError(f"expected a list of strings, found {type(value).__name__}", field=name)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise DataError(f"item {i}: expected a non-empty string, found {item!r:.60}",
                            field=name)
    if len(value) < min_len:
        raise DataError(f"expected at least {min_len} items, found {len(value)}", field=name)
    return list(value)


def _ident(d: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """An id: a string, or an int (stored as its string); bools and other types are refused."""
    value = _required(d, name) if required else d.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"expected a string id, found {type(value).__name__} {value!r:.60}",
                        field=name)
    if isinstance(value, str) and not value.strip():
        raise DataError("expected a non-empty id, found an empty string", field=name)
    return str(value)


def _meta(d: Mapping[str, Any]) -> dict[str, Any]:
    value = d.get("meta")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DataError(f"expected an object, found {type(value).__name__}", field="meta")
    return dict(value)


def _check_known(d: Mapping[str, Any], known: set[str], kind: str) -> None:
    unknown = set(d) - known
    if unknown:
        raise DataError(f"unknown field(s) {sorted(unknown)} for a {kind}; expected some of "
                        f"{sorted(known)} (put extra data under 'meta')",
                        field=sorted(unknown)[0])


class _Record:
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict without empty optional fields (stable JSONL output)."""
        out = {}
        for k, v in asdict(self).items():
            if v is None or (k == "meta" and not v):
                continue
            out[k] = v
        return out


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreferencePair(_Record):
    prompt: str
    chosen: str
    rejected: str
    margin: float | None = None  # how much better `chosen` is; used by the margin BT loss
    annotator: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "pair"
    FIELDS: ClassVar[set[str]] = {"prompt", "chosen", "rejected", "margin", "annotator", "meta"}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, strict: bool = True) -> "PreferencePair":
        if strict:
            _check_known(d, cls.FIELDS, "preference pair")
        # The prompt may be empty for datasets where the whole dialogue lives in chosen/rejected.
        prompt = _text(d, "prompt", allow_empty=True)
        chosen = _text(d, "chosen")
        rejected = _text(d, "rejected")
        if chosen == rejected:
            raise DataError("'chosen' equals 'rejected': a pair must compare two different "
                            "completions", field="rejected")
        margin = _number(d, "margin", required=False)
        return cls(prompt, chosen, rejected, margin, _opt_text(d, "annotator"), _meta(d))


@dataclass(frozen=True)
class Ranking(_Record):
    """K >= 2 completions for one prompt, best first."""

    prompt: str
    completions: list[str]
    annotator: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "ranking"
    FIELDS: ClassVar[set[str]] = {"prompt", "completions", "annotator", "meta"}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, strict: bool = True) -> "Ranking":
        if strict:
            _check_known(d, cls.FIELDS, "ranking")
        completions = _text_list(d, "completions", min_len=2)
        if len(set(completions)) != len(completions):
            raise DataError("completions must be distinct", field="completions")
        return cls(_text(d, "prompt", allow_empty=True), completions,
                   _opt_text(d, "annotator"), _meta(d))

    def to_pairs(self) -> Iterator[PreferencePair]:
        """All K(K-1)/2 pairs (i better than j for i < j), InstructGPT style."""
        for (i, better), (j, worse) in itertools.combinations(enumerate(self.completions), 2):
            meta = {**self.meta, "rank_chosen": i, "rank_rejected": j,
                    "ranking_size": len(self.completions)}
            yield PreferencePair(self.prompt, better, worse, None, self.annotator, meta)


@dataclass(frozen=True)
class Sample(_Record):
    """One model output (or candidate) for one input, with optional references."""

    prompt: str
    completion: str
    references: list[str] = field(default_factory=list)
    system: str | None = None
    id: str | None = None  # stable sample id; judgments refer to it
    meta: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "sample"
    FIELDS: ClassVar[set[str]] = {"prompt", "completion", "references", "system", "id", "meta",
                                  "input", "checkpoint", "step"}
    # completions files (`eval --completions`) name the checkpoint and training step of each
    # row; a Sample keeps them in meta, so `score`/`data validate` read those files as they are
    META_FIELDS: ClassVar[tuple[str, ...]] = ("checkpoint", "step")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, strict: bool = True) -> "Sample":
        if strict:
            _check_known(d, cls.FIELDS, "sample")
        d = dict(d)
        if "prompt" not in d and "input" in d:  # summarisation data calls the source "input"
            d["prompt"] = d.pop("input")
        d.pop("input", None)
        extra = {k: d.pop(k) for k in cls.META_FIELDS if d.get(k) is not None}
        if extra:
            d["meta"] = {**(_meta(d) if d.get("meta") is not None else {}), **extra}
        # An empty completion is a legitimate (bad) model output: metrics must score it, not crash.
        completion = _text(d, "completion", allow_empty=True)
        return cls(_text(d, "prompt", allow_empty=True), completion,
                   _text_list(d, "references"), _opt_text(d, "system"),
                   _ident(d, "id", required=False), _meta(d))


@dataclass(frozen=True)
class Judgement(_Record):
    """A score given to one sample on one aspect (e.g. SummEval relevance 1-5)."""

    sample_id: str
    aspect: str
    score: float
    annotator: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "judgement"
    FIELDS: ClassVar[set[str]] = {"sample_id", "aspect", "score", "annotator", "meta"}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, strict: bool = True) -> "Judgement":
        if strict:
            _check_known(d, cls.FIELDS, "judgement")
        return cls(_ident(d, "sample_id"), _text(d, "aspect"), _number(d, "score"),
                   _opt_text(d, "annotator"), _meta(d))


WINNERS = ("a", "b", "tie")


@dataclass(frozen=True)
class PairwiseChoice(_Record):
    """A human choice between two samples of the same prompt."""

    sample_a: str
    sample_b: str
    winner: str  # "a", "b" or "tie"
    annotator: str | None = None
    note: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "choice"
    FIELDS: ClassVar[set[str]] = {"sample_a", "sample_b", "winner", "annotator", "note", "meta"}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, strict: bool = True) -> "PairwiseChoice":
        if strict:
            _check_known(d, cls.FIELDS, "pairwise choice")
        a, b = _ident(d, "sample_a"), _ident(d, "sample_b")
        if a == b:
            raise DataError("a sample cannot be compared with itself", field="sample_b")
        winner = _text(d, "winner")
        if winner not in WINNERS:
            raise DataError(f"expected one of {WINNERS}, found {winner!r}", field="winner")
        note = _text(d, "note", allow_empty=True) if d.get("note") is not None else None
        return cls(a, b, winner, _opt_text(d, "annotator"), note or None, _meta(d))


RECORD_TYPES: dict[str, type[_Record]] = {
    cls.kind: cls for cls in (PreferencePair, Ranking, Sample, Judgement, PairwiseChoice)
}


def record_type(kind: str) -> type[_Record]:
    try:
        return RECORD_TYPES[kind]
    except KeyError:
        raise DataError(f"unknown record kind {kind!r}; expected one of {sorted(RECORD_TYPES)}")
