"""Judge prompt templates: built-ins written for this project, or files a user passes.

A template turns the fields of one judgment into a user message. Pairwise fields:
``{instruction}``, ``{response_first}``, ``{response_second}`` (the responses in the order
shown); pointwise: ``{instruction}``, ``{response}``. Files ending in ``.j2``/``.jinja`` are
Jinja2 (``{{ instruction }}``), any other file is Python ``str.format``.

The built-ins follow the shape of public judge prompts (MT-Bench's pairwise and single-answer
grading, AlpacaEval's "which output is better"), in our own words, and ask for a bare label so
that the label's first-token probability is the verdict (labels ``A``, ``B``, ``C`` = tie;
pointwise ``1``..``5``). Generated answers are parsed for ``[[X]]`` first, then a bare label.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, DataError

PAIRWISE_FIELDS = ("instruction", "response_first", "response_second")
POINTWISE_FIELDS = ("instruction", "response")

_PAIRWISE = """\
Please act as an impartial judge and compare two responses to the user request below. Judge \
which response follows the request better: helpfulness, correctness, relevance and clarity. \
Do not let the order of the responses, their length or their style influence you.

[User request]
{instruction}

[Response A]
{response_first}

[Response B]
{response_second}

Which response is better? Answer with one letter: A if Response A is better, B if Response B \
is better, C if they are equally good."""

_PAIRWISE_SUMMARY = """\
Compare two summaries of the article below. A good summary states the article's most \
important points, is consistent with the article (invents nothing), and is fluent and \
coherent. Do not let the order of the summaries or their length influence you.

[Article]
{instruction}

[Summary A]
{response_first}

[Summary B]
{response_second}

Which summary is better? Answer with one letter: A if Summary A is better, B if Summary B is \
better, C if they are equally good."""

_POINTWISE = """\
Please act as an impartial judge and rate the response to the user request below for \
helpfulness, correctness, relevance and clarity, on a scale of 1 (very poor) to 5 (excellent).

[User request]
{instruction}

[Response]
{response}

Answer with one digit from 1 to 5."""

BUILTINS = {
    "pairwise": ("pairwise", _PAIRWISE, ("A", "B", "C")),
    "pairwise-summary": ("pairwise", _PAIRWISE_SUMMARY, ("A", "B", "C")),
    "pointwise": ("pointwise", _POINTWISE, ("1", "2", "3", "4", "5")),
}


@dataclass(frozen=True)
class Template:
    name: str
    kind: str                  # 'pairwise' or 'pointwise'
    text: str
    labels: tuple[str, ...]    # pairwise: (first, second[, tie]); pointwise: score labels, low to high
    jinja: bool = False

    @property
    def hash(self) -> str:
        body = f"{self.kind}|{self.jinja}|{'/'.join(self.labels)}|{self.text}"
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def has_tie(self) -> bool:
        return self.kind == "pairwise" and len(self.labels) == 3

    def render(self, **fields: str) -> str:
        want = PAIRWISE_FIELDS if self.kind == "pairwise" else POINTWISE_FIELDS
        if self.jinja:
            import jinja2

            env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
            try:
                return env.from_string(self.text).render(**fields)
            except jinja2.TemplateError as exc:
                raise ConfigError(f"template {self.name}: {exc} (fields: {', '.join(want)})")
        try:
            return self.text.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"template {self.name}: unknown or malformed field {exc} "
                              f"(fields: {', '.join(want)}; write literal braces as {{{{ }}}})")

    def parse(self, text: str) -> str | None:
        """The label in a generated answer: ``[[X]]`` anywhere, else a bare label at the start
        (after 'Answer:'-like words), else None (a parse failure, counted by the caller)."""
        alts = "|".join(re.escape(lab) for lab in sorted(self.labels, key=len, reverse=True))
        m = re.search(rf"\[\[\s*({alts})\s*\]\]", text)
        if m is None:
            m = re.match(rf"\W*(?:(?i:answer|verdict|rating|score)\W*)?({alts})\b", text)
            if m is None:
                # "The answer is: B", "Verdict - A"
                m = re.search(rf"\b(?i:answer|verdict|rating|score)\b(?:[^.\n]{{0,40}}?\bis)?"
                              rf"\W{{0,3}}({alts})\b", text)
            if m is None or (m.group(1) not in self.labels):
                return None
        return m.group(1)


def load_template(name_or_path: str, *, kind: str | None = None,
                  labels: tuple[str, ...] | None = None) -> Template:
    """A built-in by name (``pairwise``, ``pairwise-summary``, ``pointwise``) or a file."""
    if name_or_path in BUILTINS:
        bkind, text, blabels = BUILTINS[name_or_path]
        if kind is not None and kind != bkind:
            raise ConfigError(f"template {name_or_path!r} is a {bkind} template, not {kind}")
        return Template(name_or_path, bkind, text, tuple(labels or blabels))
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"template {name_or_path!r} is neither a built-in "
                          f"({', '.join(BUILTINS)}) nor a file")
    text = path.read_text(encoding="utf-8")
    kind = kind or "pairwise"
    want = PAIRWISE_FIELDS if kind == "pairwise" else POINTWISE_FIELDS
    jinja = path.suffix in (".j2", ".jinja", ".jinja2")
    for f in want:
        if not re.search(r"\{\{\s*" + f + r"\s*\}\}" if jinja else r"\{" + f + r"\}", text):
            raise DataError(f"template does not use the field {f!r} (a {kind} template needs "
                            f"{', '.join(want)})", path=str(path), field=f)
    default = BUILTINS["pairwise" if kind == "pairwise" else "pointwise"][2]
    return Template(path.name, kind, text, tuple(labels or default), jinja)
