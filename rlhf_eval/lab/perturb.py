"""Candidate completions that span the quality range, by perturbing the reference.

Each candidate is the reference summary after 0-3 random edits, each of which moves one gold
aspect in a known direction: dropping a key fact lowers coverage; inventing a fact or swapping a
value adds an invented fact; adding a distractor fact, filler or a repeated sentence lengthens
the text (brevity); truncation leaves a broken sentence (fluency). Paraphrasing and reordering
are neutral. The candidates' names record the edits, so analyses can group by them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .documents import LabExample
from .grammar import ATTRIBUTES, ENTITIES, FILLER, Fact, parse_sentence


@dataclass(frozen=True)
class Candidate:
    text: str
    ops: tuple[str, ...]


Edit = Callable[[np.random.Generator, list[str], LabExample], list[str]]


def _drop_key(rng, sents, ex):
    idx = [i for i, s in enumerate(sents) if parse_sentence(s) in ex.key_facts]
    if len(sents) < 2 or not idx:
        return sents
    i = idx[int(rng.integers(len(idx)))]
    return sents[:i] + sents[i + 1:]


def _invented_fact(rng, ex) -> Fact:
    known = set(ex.key_facts) | set(ex.distractor_facts)
    entities = sorted({f.entity for f in known})
    while True:  # terminates: every attribute has more values than any document can use
        # mostly about an entity the document mentions (plausible); sometimes a stranger
        e = (entities[int(rng.integers(len(entities)))] if rng.random() < 0.8
             else ENTITIES[int(rng.integers(len(ENTITIES)))])
        a = list(ATTRIBUTES)[int(rng.integers(len(ATTRIBUTES)))]
        values = ATTRIBUTES[a][1]
        fact = Fact(e, a, values[int(rng.integers(len(values)))])
        if fact not in known:
            return fact


def _invent(rng, sents, ex):
    i = int(rng.integers(len(sents) + 1))
    return sents[:i] + [_invented_fact(rng, ex).render(0)] + sents[i:]


def _swap_value(rng, sents, ex):
    idx = [i for i, s in enumerate(sents) if parse_sentence(s) is not None]
    if not idx:
        return _invent(rng, sents, ex)
    i = idx[int(rng.integers(len(idx)))]
    fact = parse_sentence(sents[i])
    known = set(ex.key_facts) | set(ex.distractor_facts)
    others = [v for v in ATTRIBUTES[fact.attribute][1]
              if Fact(fact.entity, fact.attribute, v) not in known]
    new = Fact(fact.entity, fact.attribute, others[int(rng.integers(len(others)))])
    return sents[:i] + [new.render(0)] + sents[i + 1:]


def _add_distractor(rng, sents, ex):
    if not ex.distractor_facts:
        return _pad_filler(rng, sents, ex)
    f = ex.distractor_facts[int(rng.integers(len(ex.distractor_facts)))]
    return sents + [f.render(int(rng.integers(len(ATTRIBUTES[f.attribute][0]))))]


def _pad_filler(rng, sents, ex):
    n = int(rng.integers(1, 4))
    return sents + [FILLER[int(i)] for i in rng.choice(len(FILLER), n, replace=False)]


def _repeat(rng, sents, ex):
    if not sents:
        return sents
    i = int(rng.integers(len(sents)))
    return sents[:i + 1] + [sents[i]] + sents[i + 1:]


def _paraphrase(rng, sents, ex):
    idx = [i for i, s in enumerate(sents) if parse_sentence(s) is not None]
    if not idx:
        return sents
    i = idx[int(rng.integers(len(idx)))]
    fact = parse_sentence(sents[i])
    n = len(ATTRIBUTES[fact.attribute][0])
    return sents[:i] + [fact.render(int(rng.integers(1, n)))] + sents[i + 1:]


def _reorder(rng, sents, ex):
    return [sents[int(i)] for i in rng.permutation(len(sents))]


EDITS: dict[str, Edit] = {
    "drop_key": _drop_key, "invent": _invent, "swap_value": _swap_value,
    "add_distractor": _add_distractor, "pad_filler": _pad_filler, "repeat": _repeat,
    "paraphrase": _paraphrase, "reorder": _reorder,
}


def _truncate(rng, text: str) -> str:
    words = text.split()
    if len(words) < 3:
        return text
    return " " + " ".join(words[:int(rng.integers(2, len(words)))])


def perturb(rng: np.random.Generator, ex: LabExample, *, max_edits: int = 3,
            truncate_prob: float = 0.1) -> Candidate:
    """The reference after 0..max_edits random edits (and sometimes a truncation)."""
    sents = [f.render(0) for f in ex.key_facts]
    ops = []
    names = list(EDITS)
    for _ in range(int(rng.integers(max_edits + 1))):
        name = names[int(rng.integers(len(names)))]
        sents = EDITS[name](rng, sents, ex)
        ops.append(name)
    text = " " + " ".join(sents)
    if rng.random() < truncate_prob:
        text = _truncate(rng, text)
        ops.append("truncate")
    return Candidate(text, tuple(ops))


def candidates(rng: np.random.Generator, ex: LabExample, n: int, *,
               max_tries: int = 50) -> list[Candidate]:
    """Up to ``n`` candidates with distinct texts (fewer only if the tries run out)."""
    out: dict[str, Candidate] = {}
    for _ in range(max_tries):
        if len(out) >= n:
            break
        c = perturb(rng, ex)
        if c.text.strip() and c.text not in out:
            out[c.text] = c
    return list(out.values())
