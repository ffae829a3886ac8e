"""Pairwise human comparisons in the common public layouts, as one plain record.

A comparison is two completions of one prompt with a human choice:
``{"id", "prompt", "a", "b", "winner": "a"|"b"|"tie", "annotator", "confidence", "system_a",
"system_b"}`` (the layout ``rlhf-eval judge --pairs`` reads). Layouts (field names as the
public releases use them; an unexpected shape is a DataError naming file, line and field):

``plain``                    the record itself (``winner`` optional)
``summarize-from-feedback``  OpenAI's comparisons (Stiennon et al. 2020), one JSON per line:
                             ``info.post`` (or ``info.article``), ``summaries[0|1].text`` and
                             ``.policy``, ``choice`` 0|1, ``worker``, ``extra.confidence``
``mt-bench``                 MT-Bench human judgments (Zheng et al. 2023): ``question_id``,
                             ``model_a``/``model_b``, ``winner`` model_a|model_b|tie|tie
                             (bothbad), ``judge``, ``conversation_a``/``_b`` (role/content
                             messages), ``turn`` 1|2 (the judged assistant turn)
``alpaca-eval``              AlpacaEval/AlpacaFarm annotations: ``instruction``, ``output_1``,
                             ``output_2``, ``generator_1``/``_2``, ``preference`` 1|2 (1.5 or 0
                             = tie), ``annotator``

:func:`to_choices` turns comparisons into :class:`~rlhf_eval.schema.Sample` and
:class:`~rlhf_eval.schema.PairwiseChoice` records (sample ids are content hashes, so two
annotators of the same pair land on the same item and the inter-annotator ceiling sees them).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .errors import DataError
from .schema import PairwiseChoice, Sample

LAYOUTS = ("plain", "summarize-from-feedback", "mt-bench", "alpaca-eval")


def _get(d: Mapping, dotted: str):
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            raise DataError("required field is missing", field=dotted)
        cur = cur[part]
    return cur


def _text(d: Mapping, dotted: str) -> str:
    v = _get(d, dotted)
    if not isinstance(v, str):
        raise DataError(f"expected a string, found {type(v).__name__}", field=dotted)
    return v


def _plain(d: Mapping, n: int) -> dict:
    out = {"id": str(d.get("id", n)), "prompt": _text(d, "prompt"), "a": _text(d, "a"),
           "b": _text(d, "b"), "winner": d.get("winner"), "annotator": d.get("annotator"),
           "confidence": d.get("confidence"), "system_a": d.get("system_a"),
           "system_b": d.get("system_b")}
    if out["winner"] not in (None, "a", "b", "tie"):
        raise DataError(f"expected a, b or tie, found {out['winner']!r}", field="winner")
    return out


def _sff(d: Mapping, n: int) -> dict:
    info = _get(d, "info")
    prompt = info.get("post") or info.get("article") if isinstance(info, Mapping) else None
    if not isinstance(prompt, str):
        raise DataError("expected info.post or info.article", field="info.post")
    summaries = _get(d, "summaries")
    if not isinstance(summaries, list) or len(summaries) != 2:
        raise DataError("expected two summaries", field="summaries")
    choice = _get(d, "choice")
    if choice not in (0, 1):
        raise DataError(f"expected 0 or 1, found {choice!r}", field="choice")
    extra = d.get("extra") or {}
    return {"id": str(info.get("id", n)), "prompt": prompt,
            "a": _text(summaries[0], "text"), "b": _text(summaries[1], "text"),
            "winner": "a" if choice == 0 else "b", "annotator": d.get("worker"),
            "confidence": extra.get("confidence") if isinstance(extra, Mapping) else None,
            "system_a": summaries[0].get("policy"), "system_b": summaries[1].get("policy")}


def _turn_texts(conv: Any, turn: int, field: str) -> tuple[str, str]:
    if not isinstance(conv, list) or len(conv) < 2 * turn:
        raise DataError(f"expected a conversation with {2 * turn} messages", field=field)
    for m in conv[:2 * turn]:
        if not isinstance(m, Mapping) or not isinstance(m.get("content"), str):
            raise DataError("expected role/content messages", field=field)
    context = "\n\n".join(f"{m.get('role', 'user')}: {m['content']}" for m in conv[:2 * turn - 1])
    return context, conv[2 * turn - 1]["content"]


def _mt_bench(d: Mapping, n: int) -> dict:
    turn = d.get("turn", 1)
    if turn not in (1, 2):
        raise DataError(f"expected turn 1 or 2, found {turn!r}", field="turn")
    pa, a = _turn_texts(_get(d, "conversation_a"), turn, "conversation_a")
    pb, b = _turn_texts(_get(d, "conversation_b"), turn, "conversation_b")
    if turn == 1 and pa != pb:
        raise DataError("the two conversations ask different questions", field="conversation_b")
    winner = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "tie"}.get(
        _get(d, "winner"))
    if winner is None:
        raise DataError(f"expected model_a, model_b, tie or 'tie (bothbad)', found "
                        f"{d.get('winner')!r}", field="winner")
    # turn 2: the judged answer follows each model's own first answer; the prompt shown is A's
    return {"id": f"{d.get('question_id', n)}/t{turn}", "prompt": pa, "a": a, "b": b,
            "winner": winner, "annotator": d.get("judge"), "confidence": None,
            "system_a": d.get("model_a"), "system_b": d.get("model_b")}


def _alpaca(d: Mapping, n: int) -> dict:
    pref = _get(d, "preference")
    winner = {1: "a", 2: "b", 1.5: "tie", 0: "tie"}.get(pref) if not isinstance(pref, bool) \
        else None
    if winner is None:
        raise DataError(f"expected 1, 2 or 1.5/0 (tie), found {pref!r}", field="preference")
    return {"id": str(d.get("id", n)), "prompt": _text(d, "instruction"),
            "a": _text(d, "output_1"), "b": _text(d, "output_2"), "winner": winner,
            "annotator": d.get("annotator"), "confidence": None,
            "system_a": d.get("generator_1"), "system_b": d.get("generator_2")}


_READERS: dict[str, Callable[[Mapping, int], dict]] = {
    "plain": _plain, "summarize-from-feedback": _sff, "mt-bench": _mt_bench,
    "alpaca-eval": _alpaca}


def _rows(path: str) -> Iterator[tuple[int, Any]]:
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):          # a JSON list (AlpacaEval ships these)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not JSON: {exc.msg}", path=path, line=exc.lineno)
        yield from enumerate(data, 1)
        return
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not JSON: {exc.msg}", path=path, line=n)


def read_comparisons(path: str, layout: str = "plain") -> list[dict]:
    """Every comparison in ``path`` (JSONL, or a JSON list) read with ``layout``."""
    if layout not in _READERS:
        raise DataError(f"unknown layout {layout!r}; expected one of {LAYOUTS}", field="layout")
    out = []
    for n, row in _rows(path):
        if not isinstance(row, Mapping):
            raise DataError("expected an object", path=path, line=n)
        try:
            rec = _READERS[layout](row, n)
        except DataError as exc:
            raise exc.at(path=path, line=n) from None
        if rec["a"] == rec["b"]:
            raise DataError("the two completions are identical", path=path, line=n, field="b")
        out.append(rec)
    if not out:
        raise DataError("no comparisons", path=path)
    return out


def _sid(prompt: str, completion: str) -> str:
    return hashlib.sha256(json.dumps([prompt, completion]).encode()).hexdigest()[:16]


def to_choices(comparisons: list[dict]) -> tuple[list[Sample], list[PairwiseChoice]]:
    """Samples (one per distinct prompt + completion) and one choice per comparison."""
    samples: dict[str, Sample] = {}
    choices = []
    for k, c in enumerate(comparisons):
        ids = []
        for side in ("a", "b"):
            sid = _sid(c["prompt"], c[side])
            samples.setdefault(sid, Sample(c["prompt"], c[side], id=sid, system=None,
                                           meta={"system": c.get(f"system_{side}")}))
            ids.append(sid)
        if c.get("winner") is None:
            continue
        choices.append(PairwiseChoice(ids[0], ids[1], c["winner"],
                                      str(c["annotator"]) if c.get("annotator") is not None
                                      else f"annotator-{k}",
                                      meta={"confidence": c.get("confidence")}
                                      if c.get("confidence") is not None else {}))
    return list(samples.values()), choices
