"""Adapters: read published preference/judgment data in its own layout as schema records.

Use them through :func:`rlhf_eval.io.read_records` (``adapter="hh-rlhf"``), the command line
(``rlhf-eval data convert IN OUT --adapter hh-rlhf``), the functions below, or
:mod:`rlhf_eval.bundled` for the data sets shipped in ``data/``. This module imports no reader:
:mod:`rlhf_eval.io` stands on it, not the other way round.

``hh-rlhf``  Anthropic HH-RLHF (Bai et al. 2022): ``{"chosen": dialogue, "rejected": dialogue}``
             where a dialogue is ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``. The turns both
             dialogues share (all but the final Assistant turn) become the prompt, which keeps
             multi-turn context whole and ends with ``"\\n\\nAssistant:"``; the final Assistant
             turns become ``chosen``/``rejected`` exactly as written (with their leading space),
             so ``prompt + chosen`` is the original chosen dialogue. Non-conforming pairs are
             errors (skipped under ``on_error="skip"``, each with its reason):
             - the dialogues differ before their final turn, or do not end with an Assistant
               turn (9 pairs in helpful-base test, 5 in harmless-base test: in these one side
               has an extra ``Assistant:``/``Human:`` turn, so there is no single shared prompt);
             - both final turns are equal (2 exact duplicates in helpful-base test): such a pair
               carries no preference;
             - a final Assistant turn is empty (4 in helpful-base, 4 in harmless-base test):
               :class:`PreferencePair` needs two non-empty completions.
             So helpful-base test gives 2,339 pairs and harmless-base test 2,303
             (:func:`rlhf_eval.bundled.hh_rlhf_pairs`, which skips and lists the rest).
``trl``      TRL's preference layout: ``prompt``/``chosen``/``rejected`` as strings, or as
             conversations (lists of ``{"role", "content"}`` messages; the prompt may be
             implicit, i.e. shared leading messages of chosen and rejected). Conversations are
             rendered with the HH template below, or with ``tokenizer.apply_chat_template`` when
             a tokenizer is given (the way TRL does); the messages are kept in ``meta``.
             ``score_chosen``/``score_rejected`` (UltraFeedback style) give the ``margin``.
``summeval`` SummEval expert ratings (Fabbri et al. 2021) as one JSON object keyed by document:
             1,600 :class:`Sample` (``id = "{doc_id}/{system}"``) and 6,400 :class:`Judgement`
             (4 aspects, annotator ``"expert_mean"``: the file holds the mean of 3 experts).

The HH template (no tokenizer): each message is ``"\\n\\n{Label}: {content}"`` with
``Human``/``Assistant``/``System`` for ``user``/``assistant``/``system``; the prompt ends with
``"\\n\\nAssistant:"`` and a completion is the rest of the rendered conversation. Rendering the
HH conversations this way gives back exactly what the ``hh-rlhf`` adapter produces.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .errors import DataError
from .schema import Judgement, PreferencePair, Sample

# ============================================================================ raw rows


@dataclass(frozen=True)
class Row:
    """One input record before validation: a dict, or the DataError that made it unreadable."""

    line: int | None
    data: Mapping[str, Any] | DataError
    unit: str = "line"


def _decode_utf8(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset "
                        f"{exc.start} of the file", path=path, line=line) from None


# ============================================================================ adapter type


@dataclass(frozen=True)
class Adapter:
    name: str
    kinds: tuple[str, ...]  # record kinds it produces
    convert: Callable[[Mapping[str, Any], bool], list]  # (input record, strict) -> records
    rows: Callable[[str], Iterator[Row]] | None = None  # its own file layout, if any
    csv_json_fields: frozenset[str] = frozenset()  # CSV cells that may hold JSON messages
    description: str = ""


def _check_fields(d: Mapping[str, Any], known: set[str], what: str, strict: bool) -> None:
    unknown = set(d) - known
    if strict and unknown:
        raise DataError(f"unknown field(s) {sorted(unknown)} for {what}; expected some of "
                        f"{sorted(known)}", field=sorted(unknown)[0])


def _string(d: Mapping[str, Any], name: str) -> str:
    value = d.get(name)
    if value is None:
        raise DataError(f"required field is missing (found keys: {sorted(d)})", field=name)
    if not isinstance(value, str):
        raise DataError(f"expected a string, found {type(value).__name__}", field=name)
    return value


# ============================================================================ HH-RLHF

_MARKER = re.compile(r"\n\n(Human|Assistant):")


def split_hh_dialogue(text: str, field: str = "chosen") -> tuple[str, str]:
    """``(prompt, final assistant turn)``: the prompt runs up to and including the last
    ``"\\n\\nAssistant:"`` marker; the final turn is the rest, as written."""
    markers = list(_MARKER.finditer(text))
    if not markers:
        raise DataError("expected a dialogue with '\\n\\nHuman:'/'\\n\\nAssistant:' turns, "
                        f"found none in {text[:60]!r}", field=field)
    last = markers[-1]
    if last.group(1) != "Assistant":
        raise DataError("the dialogue does not end with an Assistant turn (its last turn is "
                        "a Human turn)", field=field)
    return text[:last.end()], text[last.end():]


def hh_rlhf_pair(row: Mapping[str, Any], strict: bool = True) -> PreferencePair:
    _check_fields(row, {"chosen", "rejected"}, "an HH-RLHF record", strict)
    chosen, rejected = _string(row, "chosen"), _string(row, "rejected")
    if chosen == rejected:
        raise DataError("'chosen' and 'rejected' are the same dialogue (an exact duplicate in "
                        "the source): the pair carries no preference", field="rejected")
    prompt, chosen_turn = split_hh_dialogue(chosen, "chosen")
    rejected_prompt, rejected_turn = split_hh_dialogue(rejected, "rejected")
    if prompt != rejected_prompt:
        n_c, n_r = len(_MARKER.findall(chosen)), len(_MARKER.findall(rejected))
        raise DataError(f"the dialogues differ before their final Assistant turn (chosen has "
                        f"{n_c} turns, rejected {n_r}): they do not share one prompt",
                        field="rejected")
    for name, turn in (("chosen", chosen_turn), ("rejected", rejected_turn)):
        # kept out because PreferencePair needs two real completions; in harmless-base an
        # empty chosen turn is an assistant that said nothing, which is worth knowing about
        if not turn.strip():
            raise DataError(f"the final Assistant turn of '{name}' is empty", field=name)
    return PreferencePair.from_dict({"prompt": prompt, "chosen": chosen_turn,
                                     "rejected": rejected_turn})


def _hh_convert(row: Mapping[str, Any], strict: bool) -> list:
    return [hh_rlhf_pair(row, strict)]


# ============================================================================ TRL

ROLE_LABELS = {"user": "Human", "assistant": "Assistant", "system": "System"}
_TRL_FIELDS = {"prompt", "chosen", "rejected", "score_chosen", "score_rejected", "margin",
               "annotator", "meta"}


def _messages(value: Any, field: str, tokenizer) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError("expected a non-empty list of messages", field=field)
    out = []
    for i, msg in enumerate(value):
        if not isinstance(msg, Mapping):
            raise DataError(f"expected a message object, found {type(msg).__name__}",
                            field=f"{field}[{i}]")
        role, content = msg.get("role"), msg.get("content")
        if not isinstance(role, str) or (tokenizer is None and role not in ROLE_LABELS):
            raise DataError(f"expected a role in {sorted(ROLE_LABELS)}, found {role!r}",
                            field=f"{field}[{i}].role")
        if not isinstance(content, str):
            raise DataError(f"expected text content, found {type(content).__name__}",
                            field=f"{field}[{i}].content")
        out.append({"role": role, "content": content})
    return out


def render_hh(messages: list[Mapping[str, str]], *, add_generation_prompt: bool = False) -> str:
    """The HH template: ``"\\n\\nHuman: hi\\n\\nAssistant: hello"``."""
    text = "".join(f"\n\n{ROLE_LABELS[m['role']]}: {m['content']}" for m in messages)
    return text + ("\n\nAssistant:" if add_generation_prompt else "")


def _render(prompt_msgs, completion_msgs, tokenizer, field: str) -> tuple[str, str]:
    if tokenizer is None:
        prompt = render_hh(prompt_msgs, add_generation_prompt=True)
        full = render_hh(prompt_msgs + completion_msgs)
    else:
        try:
            prompt = tokenizer.apply_chat_template(prompt_msgs, tokenize=False,
                                                   add_generation_prompt=True)
            full = tokenizer.apply_chat_template(prompt_msgs + completion_msgs, tokenize=False)
        except Exception as exc:  # jinja2 TemplateError, or a tokenizer without a template
            raise DataError(f"the tokenizer's chat template failed: {exc}", field=field) from None
    if not full.startswith(prompt):
        raise DataError("the rendered prompt is not a prefix of the rendered conversation "
                        "(the chat template renders the generation prompt differently)",
                        field=field)
    return prompt, full[len(prompt):]


def _split_implicit(chosen, rejected) -> tuple[list, list, list]:
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def trl_pair(row: Mapping[str, Any], strict: bool = True, tokenizer=None) -> PreferencePair:
    _check_fields(row, _TRL_FIELDS, "a TRL preference record", strict)
    chosen, rejected = row.get("chosen"), row.get("rejected")
    prompt = row.get("prompt")
    margin = row.get("margin")
    if row.get("score_chosen") is not None and row.get("score_rejected") is not None:
        sc, sr = row["score_chosen"], row["score_rejected"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (sc, sr)):
            raise DataError("expected numbers", field="score_chosen")
        margin = sc - sr
    meta = row.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise DataError(f"expected an object, found {type(meta).__name__}", field="meta")
    extra = {"annotator": row.get("annotator"), "margin": margin, "meta": dict(meta)}
    if not isinstance(chosen, list) and not isinstance(rejected, list) and not isinstance(
            prompt, list):
        return PreferencePair.from_dict({"prompt": prompt, "chosen": chosen,
                                         "rejected": rejected, **extra})
    chosen_msgs = _messages(chosen, "chosen", tokenizer)
    rejected_msgs = _messages(rejected, "rejected", tokenizer)
    if prompt is None:  # implicit prompt: the messages both conversations share
        prompt_msgs, chosen_msgs, rejected_msgs = _split_implicit(chosen_msgs, rejected_msgs)
        if not prompt_msgs:
            raise DataError("no prompt, and chosen/rejected share no leading messages",
                            field="prompt")
    else:
        prompt_msgs = _messages(prompt, "prompt", tokenizer)
    for name, msgs in (("chosen", chosen_msgs), ("rejected", rejected_msgs)):
        if not msgs or msgs[-1]["role"] != "assistant":
            raise DataError("expected the completion to end with an assistant message",
                            field=name)
    prompt_text, chosen_text = _render(prompt_msgs, chosen_msgs, tokenizer, "chosen")
    _, rejected_text = _render(prompt_msgs, rejected_msgs, tokenizer, "rejected")
    extra["meta"].update(prompt_messages=prompt_msgs, chosen_messages=chosen_msgs,
                         rejected_messages=rejected_msgs)
    return PreferencePair.from_dict({"prompt": prompt_text, "chosen": chosen_text,
                                     "rejected": rejected_text, **extra})


def trl_adapter(tokenizer=None) -> Adapter:
    """The TRL adapter; with a tokenizer, conversations use its chat template."""
    return Adapter("trl", ("pair",), lambda row, strict: [trl_pair(row, strict, tokenizer)],
                   csv_json_fields=frozenset({"prompt", "chosen", "rejected"}),
                   description="TRL prompt/chosen/rejected (strings or conversations)")


# ============================================================================ SummEval

SUMMEVAL_ASPECTS = ("coherence", "consistency", "fluency", "relevance")
SUMMEVAL_ANNOTATOR = "expert_mean"


def _summeval_rows(path: str) -> Iterator[Row]:
    try:
        data = json.loads(_decode_utf8(Path(path).read_bytes(), path))
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} at column {exc.colno}", path=path,
                        line=exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError(f"expected a JSON object keyed by document id, found "
                        f"{type(data).__name__}", path=path)
    for index, (doc_id, doc) in enumerate(data.items(), 1):
        if not isinstance(doc, dict):
            yield Row(index, DataError(f"expected an object, found {type(doc).__name__}",
                                       field=doc_id), "document")
        else:
            yield Row(index, {"doc_id": doc_id, **doc}, "document")


def summeval_document(doc: Mapping[str, Any], strict: bool = True) -> list:
    """The 16 samples and 64 judgements of one SummEval document."""
    doc_id = str(doc["doc_id"])
    _check_fields(doc, {"doc_id", "src", "ref_summ", "ref_summs", "sys_summs"},
                  f"a SummEval document ({doc_id})", strict)
    systems = doc.get("sys_summs")
    if not isinstance(systems, Mapping) or not systems:
        raise DataError("expected an object of system summaries", field=f"{doc_id}.sys_summs")
    source = _string(doc, "src")
    out: list = []
    for system, entry in systems.items():
        where = f"{doc_id}.sys_summs.{system}"
        if not isinstance(entry, Mapping):
            raise DataError("expected an object", field=where)
        sample_id = f"{doc_id}/{system}"
        try:
            out.append(Sample.from_dict({"id": sample_id, "prompt": source,
                                         "completion": entry.get("sys_summ"),
                                         "references": doc.get("ref_summs"),
                                         "system": system, "meta": {"doc_id": doc_id}}))
        except DataError as exc:
            raise DataError(exc.reason, field=f"{where}.{exc.location.field}") from None
        scores = entry.get("scores")
        if not isinstance(scores, Mapping):
            raise DataError("expected an object of aspect scores", field=f"{where}.scores")
        for aspect in SUMMEVAL_ASPECTS:
            score = scores.get(aspect)
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not (
                    1 <= score <= 5):
                raise DataError(f"expected a score in [1, 5], found {score!r}",
                                field=f"{where}.scores.{aspect}")
            out.append(Judgement(sample_id, aspect, float(score), SUMMEVAL_ANNOTATOR))
    return out


# ============================================================================ registry

ADAPTERS: dict[str, Adapter] = {
    "hh-rlhf": Adapter("hh-rlhf", ("pair",), _hh_convert,
                       description="Anthropic HH-RLHF whole dialogues -> prompt/chosen/rejected"),
    "trl": trl_adapter(),
    "summeval": Adapter("summeval", ("sample", "judgement"), summeval_document,
                        rows=_summeval_rows,
                        description="SummEval JSON -> samples + expert judgements"),
}


def get_adapter(adapter: str | Adapter) -> Adapter:
    if isinstance(adapter, Adapter):
        return adapter
    if adapter in ADAPTERS:
        return ADAPTERS[adapter]
    close = difflib.get_close_matches(str(adapter), ADAPTERS, n=3)
    raise DataError(f"unknown adapter {adapter!r}; expected one of {sorted(ADAPTERS)}"
                    + (f" (did you mean {close}?)" if close else ""))
