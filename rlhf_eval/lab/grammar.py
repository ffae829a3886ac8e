"""The lab's tiny language: facts, the templates that render them, and the parser that reads
them back.

A *fact* is an ``(entity, attribute, value)`` triple such as ``("Mara", "pet", "ferret")``.
Each attribute has a few sentence templates; template 0 is the *canonical* one that reference
summaries use, the others are paraphrases that documents mix in. Every template is a whole
sentence, and entity names and values come from closed vocabularies, so a sentence either parses
to exactly one fact or it does not parse at all (filler, gibberish, a truncated sentence).

The prompt format is fixed so that the gold reward can recover the document from the prompt
text alone::

    Summarize the document.

    Document: <sentences>

    TL;DR:

and the completion follows the ``TL;DR:`` separator (as in the TL;DR summarisation task of
Stiennon et al. 2020).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import DataError

ENTITIES: tuple[str, ...] = (
    "Ada", "Bruno", "Clara", "Dario", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Karin", "Leo", "Mara", "Nils", "Olga", "Pablo", "Rosa", "Sven", "Tara", "Victor",
    "Wanda", "Yusuf", "Zora", "Omar",
)

# attribute -> (templates, values). Template 0 is canonical. Values are single words so a
# value never contains another value and tokenisation stays short.
ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "city": (("{e} lives in {v}.", "{e} has a home in {v}.", "The home of {e} is in {v}."),
             ("Oslo", "Lima", "Cairo", "Quito", "Perth", "Turin", "Osaka", "Dakar", "Riga",
              "Porto")),
    "job": (("{e} works as a {v}.", "{e} is employed as a {v}.", "By trade, {e} is a {v}."),
            ("baker", "nurse", "pilot", "tailor", "farmer", "lawyer", "painter", "dentist",
             "plumber", "teacher")),
    "pet": (("{e} owns a {v}.", "{e} keeps a {v} as a pet.", "A {v} lives with {e}."),
            ("cat", "dog", "parrot", "rabbit", "goat", "horse", "turtle", "hamster", "ferret",
             "pony")),
    "hobby": (("{e} enjoys {v}.", "In spare time, {e} likes {v}.",
               "{e} spends weekends on {v}."),
              ("chess", "golf", "tennis", "poetry", "sailing", "cooking", "hiking", "fishing",
               "pottery", "singing")),
    "color": (("{e} likes the color {v}.", "The favorite color of {e} is {v}.",
               "{e} prefers {v} to any other color."),
              ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "brown",
               "gray")),
    "food": (("{e} eats {v} daily.", "The favorite food of {e} is {v}.",
              "{e} loves a plate of {v}."),
             ("rice", "soup", "bread", "cheese", "pasta", "beans", "salad", "curry", "tacos",
              "noodles")),
}

# Sentences that state no fact: documents use them as distractors, perturbations as padding.
FILLER: tuple[str, ...] = (
    "The weather was mild that week.", "Nobody could recall the exact date.",
    "It was a quiet season in the town.", "Several neighbors mentioned this later.",
    "The local paper printed a short note.", "Most of this was common knowledge.",
    "There is little else to report.", "The story spread slowly at first.",
    "Some details were never confirmed.", "Everyone agreed it was unremarkable.",
)

INSTRUCTION = "Summarize the document."
DOC_PREFIX = "Document: "
SEPARATOR = "\n\nTL;DR:"


@dataclass(frozen=True, order=True)
class Fact:
    entity: str
    attribute: str
    value: str

    def render(self, template: int = 0) -> str:
        templates = ATTRIBUTES[self.attribute][0]
        return templates[template].format(e=self.entity, v=self.value)


def format_prompt(document: str) -> str:
    return f"{INSTRUCTION}\n\n{DOC_PREFIX}{document}{SEPARATOR}"


def document_of(prompt: str) -> str:
    """The document inside a lab prompt; :class:`DataError` (field ``prompt``) otherwise."""
    head = f"{INSTRUCTION}\n\n{DOC_PREFIX}"
    if not prompt.startswith(head) or not prompt.endswith(SEPARATOR):
        raise DataError(f"not a lab prompt: expected {head!r}...{SEPARATOR!r}, found "
                        f"{prompt[:40]!r}...{prompt[-20:]!r}", field="prompt")
    return prompt[len(head):-len(SEPARATOR)]


_SENTENCE_END = re.compile(r"(?<=\.)\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (whitespace-normalised); a trailing fragment without a period is
    kept as its own (unparseable) sentence."""
    text = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(text) if s]


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    names = "|".join(ENTITIES)
    out = []
    for attribute, (templates, values) in ATTRIBUTES.items():
        vals = "|".join(values)
        for t in templates:
            body = re.escape(t).replace(r"\{e\}", f"(?P<e>{names})").replace(
                r"\{v\}", f"(?P<v>{vals})")
            out.append((re.compile(f"^{body}$"), attribute))
    return out


def parse_sentence(sentence: str) -> Fact | None:
    """The fact a sentence states, or None when it states none."""
    for pattern, attribute in _patterns():
        m = pattern.match(sentence)
        if m:
            return Fact(m.group("e"), attribute, m.group("v"))
    return None


def parse_facts(text: str) -> list[tuple[str, Fact | None]]:
    """Each sentence of ``text`` with the fact it states (None for non-fact sentences)."""
    return [(s, parse_sentence(s)) for s in split_sentences(text)]
