"""Completions generated elsewhere (vLLM, TGI, an API, another trainer's eval loop), evaluated
like a generated run: same store, metrics, win-rates, report and dashboard.

    rlhf-eval eval --completions outputs.jsonl --store results.sqlite [--reward-model rm/]
    rlhf_eval.evaluate(completions="outputs.jsonl", store="results.sqlite")

A completions file (JSONL, JSON, CSV, Parquet or a ``save_to_disk`` folder; ``--split`` for a
DatasetDict) has one row per (checkpoint, prompt): ``prompt``, ``completion``, ``checkpoint``
and optionally ``step`` (the training step; default: trailing digits of the checkpoint name,
else its order of appearance), ``references`` (a list or one string), ``id`` and ``meta``.
No policy is loaded: model-based metrics need only their own model (``reward``: the RM);
``kl`` needs the policy's log-probs and is not available for imported text.

The baseline is the checkpoint named by ``baseline_checkpoint`` (``--baseline-checkpoint``),
else one named ``baseline`` or ``sft``; it is stored as the run's baseline (step 0), so
win-rates against it and the Bradley-Terry anchor work as for a generated run.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import DataError
from ..store import content_hash, sample_id_for

IMPORTED_SIGNATURE = "imported"   # the gen_signature of imported completions
REQUIRED = ("prompt", "completion", "checkpoint")
OPTIONAL = ("step", "references", "id", "meta")
BASELINE_NAMES = ("baseline", "sft")


@dataclass(frozen=True)
class ImportedRow:
    sample_id: str
    prompt: str
    references: tuple[str, ...]
    meta: dict
    completion: str


@dataclass
class ImportedCheckpoint:
    name: str
    step: int | None
    rows: list[ImportedRow] = field(default_factory=list)

    def content_hash(self) -> str:
        """Changes when any completion changes, so re-importing an edited file replaces the
        checkpoint's stale rows (the store drops them when the hash changes)."""
        return "completions:" + content_hash(sorted((r.sample_id, r.completion)
                                                    for r in self.rows))


def _text(value: Any, where: dict, name: str, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise DataError(f"expected a string, found {type(value).__name__}", field=name, **where)
    if not allow_empty and not value.strip():
        raise DataError("expected a non-empty string", field=name, **where)
    return value


def _references(value: Any, where: dict) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DataError("expected a list of strings (or one string)", field="references", **where)


def _step(value: Any, where: dict) -> int | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):  # CSV cells are text
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise DataError(f"expected an integer training step, found {value!r}", field="step",
                        **where)
    return int(value)


def _meta(value: Any, where: dict) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # CSV / Arrow carry meta as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise DataError("expected a JSON object", field="meta", **where) from None
    if not isinstance(value, dict):
        raise DataError(f"expected an object, found {type(value).__name__}", field="meta",
                        **where)
    return value


def read_completions(source, *, split: str | None = None, format: str | None = None,
                     max_samples: int | None = None) -> list[ImportedCheckpoint]:
    """The checkpoints of a completions file, in order of their step. Errors name the file,
    line and field; a checkpoint that gives one prompt twice is an error (which one counts?)."""
    from ..io import iter_rows, require_split

    require_split(source, split)
    by_name: dict[str, ImportedCheckpoint] = {}
    seen: dict[tuple[str, str], int] = {}
    n = 0
    for label, line, unit, rec in iter_rows(source, format=format, split=split):
        where = {"path": label, "line": line, "unit": unit}
        n += 1
        unknown = sorted(set(rec) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise DataError(f"unknown field(s) {unknown}; a completions row has "
                            f"{list(REQUIRED)} and optionally {list(OPTIONAL)}", **where)
        for name in REQUIRED:
            if rec.get(name) is None:
                raise DataError("missing required field", field=name, **where)
        prompt = _text(rec["prompt"], where, "prompt", allow_empty=False)
        completion = _text(rec["completion"], where, "completion", allow_empty=True)
        ck = str(rec["checkpoint"]).strip()
        if not ck:
            raise DataError("expected a checkpoint name", field="checkpoint", **where)
        refs = _references(rec.get("references"), where)
        meta = dict(_meta(rec.get("meta"), where))
        if rec.get("id") is not None:
            meta["id"] = str(rec["id"])
        step = _step(rec.get("step"), where)
        entry = by_name.setdefault(ck, ImportedCheckpoint(ck, step))
        if step is not None and entry.step is not None and step != entry.step:
            raise DataError(f"checkpoint {ck!r} has step {entry.step} on an earlier row and "
                            f"{step} here", field="step", **where)
        entry.step = entry.step if entry.step is not None else step
        sid = sample_id_for(prompt, refs)
        if (ck, sid) in seen:
            raise DataError(f"checkpoint {ck!r} has this prompt (and references) already on "
                            f"line {seen[ck, sid]}", field="prompt", **where)
        seen[ck, sid] = line
        entry.rows.append(ImportedRow(sid, prompt, refs, meta, completion))
    if not n:
        raise DataError("no completions found (the file is empty)", path=str(source))
    checkpoints = list(by_name.values())
    for order, ck in enumerate(checkpoints, 1):
        if ck.step is None:
            m = re.search(r"(\d+)$", ck.name)
            ck.step = int(m.group(1)) if m else order
    if max_samples is not None:
        keep = list(dict.fromkeys(r.sample_id for ck in checkpoints for r in ck.rows))
        keep = set(keep[:max_samples])
        for ck in checkpoints:
            ck.rows = [r for r in ck.rows if r.sample_id in keep]
    return sorted(checkpoints, key=lambda c: (c.step, c.name))


def pick_baseline(checkpoints: Iterable[ImportedCheckpoint], wanted: str | None,
                  source: str) -> str | None:
    names = [c.name for c in checkpoints]
    if wanted is not None:
        if wanted not in names:
            raise DataError(f"--baseline-checkpoint {wanted!r} is not a checkpoint of the "
                            f"file; it has {names}", path=source, field="checkpoint")
        return wanted
    return next((n for n in BASELINE_NAMES if n in names), None)


def samples_of(checkpoints: Iterable[ImportedCheckpoint]) -> list[ImportedRow]:
    """One row per distinct sample (first occurrence), in file order."""
    out: dict[str, ImportedRow] = {}
    for ck in checkpoints:
        for r in ck.rows:
            out.setdefault(r.sample_id, r)
    return list(out.values())


def default_store_and_name(source: str) -> tuple[Path, str]:
    """``<file's folder>/results.sqlite`` (beside a save_to_disk folder, never inside it)
    and the file's name without extensions as the run name."""
    p = Path(source).resolve()
    return p.parent / "results.sqlite", (p.name.split(".")[0] or "completions")
