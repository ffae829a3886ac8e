"""Documents built from facts, with key facts marked by construction.

A document states a few *key* facts first and restates each of them later with another template;
*distractor* facts (about the same entities) are stated once, and *filler* sentences state
nothing. So "key" is visible in the text itself in two ways a summariser can learn: key facts
come first, and key facts are the repeated ones. The gold reward uses the second rule
(:func:`read_document`) and needs nothing but the prompt.

The reference summary states the key facts with the canonical template, in order of first
mention: the shortest faithful, complete summary the grammar allows.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .grammar import ATTRIBUTES, ENTITIES, FILLER, Fact, document_of, format_prompt, parse_facts


@dataclass(frozen=True)
class DocumentConfig:
    """Inclusive ranges for how many of each part a document has."""

    entities: tuple[int, int] = (1, 2)
    key_facts: tuple[int, int] = (2, 3)
    distractor_facts: tuple[int, int] = (1, 3)
    filler_sentences: tuple[int, int] = (0, 2)

    def __post_init__(self):
        for name in ("entities", "key_facts", "distractor_facts", "filler_sentences"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise DataError(f"expected 0 <= low <= high, found ({lo}, {hi})", field=name)
        if self.entities[0] < 1 or self.key_facts[0] < 1:
            raise DataError("a document needs at least one entity and one key fact",
                            field="key_facts")
        capacity = self.entities[0] * len(ATTRIBUTES)
        if self.key_facts[1] + self.distractor_facts[1] > capacity:
            raise DataError(f"at most {capacity} distinct (entity, attribute) facts fit in a "
                            f"document with {self.entities[0]} entities", field="key_facts")


@dataclass(frozen=True)
class LabExample:
    id: str
    split: str
    document: str
    key_facts: tuple[Fact, ...]
    distractor_facts: tuple[Fact, ...]

    @property
    def prompt(self) -> str:
        return format_prompt(self.document)

    @property
    def reference(self) -> str:
        return reference_summary(self.key_facts)


def reference_summary(key_facts) -> str:
    # A leading space: the completion follows "TL;DR:" directly, as in the TL;DR task.
    return " " + " ".join(f.render(0) for f in key_facts)


def _between(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _sample_facts(rng: np.random.Generator, entities: list[str], n: int) -> list[Fact]:
    slots = [(e, a) for e in entities for a in ATTRIBUTES]
    picked = rng.choice(len(slots), size=n, replace=False)
    facts = []
    for i in picked:
        e, a = slots[int(i)]
        values = ATTRIBUTES[a][1]
        facts.append(Fact(e, a, values[int(rng.integers(len(values)))]))
    return facts


def make_example(rng: np.random.Generator, cfg: DocumentConfig, *, example_id: str,
                 split: str) -> LabExample:
    """One document: key facts first, then distractors, filler and key restatements mixed."""
    n_entities = _between(rng, cfg.entities)
    entities = [ENTITIES[int(i)] for i in rng.choice(len(ENTITIES), n_entities, replace=False)]
    n_key = _between(rng, cfg.key_facts)
    n_distractor = _between(rng, cfg.distractor_facts)
    facts = _sample_facts(rng, entities, n_key + n_distractor)
    key, distractors = facts[:n_key], facts[n_key:]

    n_templates = [len(ATTRIBUTES[f.attribute][0]) for f in key]
    first = [int(rng.integers(n)) for n in n_templates]
    # the restatement uses another template, so repeats are paraphrases, not copies
    second = [(t + 1 + int(rng.integers(n - 1))) % n for t, n in zip(first, n_templates)]
    lead = [f.render(t) for f, t in zip(key, first)]
    body = [f.render(t) for f, t in zip(key, second)]
    body += [f.render(int(rng.integers(len(ATTRIBUTES[f.attribute][0])))) for f in distractors]
    n_filler = _between(rng, cfg.filler_sentences)
    body += [FILLER[int(i)] for i in rng.choice(len(FILLER), n_filler, replace=False)]
    order = rng.permutation(len(body))
    document = " ".join(lead + [body[int(i)] for i in order])
    return LabExample(example_id, split, document, tuple(key), tuple(distractors))


@dataclass(frozen=True)
class ParsedDocument:
    facts: frozenset[Fact]
    key_facts: tuple[Fact, ...]  # in order of first mention

    @property
    def reference(self) -> str:
        return reference_summary(self.key_facts)


def read_document(prompt: str) -> ParsedDocument:
    """Recover the facts and the key facts (those stated at least twice) from a lab prompt."""
    stated = [fact for _, fact in parse_facts(document_of(prompt)) if fact is not None]
    counts = Counter(stated)
    key = tuple(dict.fromkeys(f for f in stated if counts[f] >= 2))
    if not key:
        raise DataError("a lab document states every key fact twice; this one repeats none",
                        field="prompt")
    return ParsedDocument(frozenset(stated), key)
