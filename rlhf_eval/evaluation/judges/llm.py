"""LLM judges: pairwise (both orders, A/B/tie) and pointwise, cached in the results store.

Pairwise: every item ``(instruction, a, b)`` is shown twice, ``a`` first and ``b`` first. In
log-prob mode (the engine returns option-token log-probabilities) each order gives the
probabilities of the labels renormalised over them, and the item's probabilities are the
averages over the two orders, ``P(a) = (P(first | a,b) + P(second | b,a)) / 2`` and likewise for
``b`` and tie; the verdict is the most probable of the three. In parse mode the generated
answers are parsed; two parsed orders that disagree make a tie ("inconsistent", as MT-Bench
counts them), one unparsed order leaves the other, and two unparsed orders leave no verdict:
parse failures are counted and reported, never dropped silently.

Every answer is cached in the store's ``judgments`` table under the judge's signature (engine,
model content hash, template hash, settings) and a content hash of what was shown, so an
interrupted run resumes and a re-run does no model work.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ...errors import ConfigError
from .engine import JudgeEngine
from .templates import Template

log = logging.getLogger(__name__)

MODES = ("auto", "logprobs", "parse")
JUDGE_VERSION = "1"   # bump when the verdict rule changes (it is part of the signature)


@dataclass(frozen=True)
class JudgeSettings:
    mode: str = "auto"              # logprobs when the engine gives them, else parse
    max_new_tokens: int = 16        # parse mode: length of the generated answer
    max_field_chars: int = 4000     # each field is cut to this many characters (marked ' ...')
    chunk: int = 8                  # prompts judged (and committed to the store) per step
    # log-prob mode: 'argmax' = the most probable of a / b / tie; 'ab' = P(a over b) with the
    # tie label's mass left out (per order p_first / (p_first + p_second), averaged over the
    # orders), a tie only at exactly 0.5. Both read the same cached answers.
    verdict: str = "argmax"

    def __post_init__(self):
        if self.verdict not in ("argmax", "ab"):
            raise ConfigError(f"verdict must be 'argmax' or 'ab', found {self.verdict!r}")
        if self.mode not in MODES:
            raise ConfigError(f"judge mode must be one of {MODES}, found {self.mode!r}")
        if self.max_field_chars < 16 or self.max_new_tokens < 1 or self.chunk < 1:
            raise ConfigError("max_field_chars >= 16, max_new_tokens >= 1 and chunk >= 1 "
                              "are required")


@dataclass(frozen=True)
class PairItem:
    item_id: str
    instruction: str
    a: str
    b: str
    gen_a: str | None = None    # store generation ids, recorded with the answers (dashboard)
    gen_b: str | None = None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def _key(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


class _CachedJudge:
    """Shared plumbing: signature, cache look-up, batched model calls, store writes."""

    kind = ""

    def __init__(self, engine: JudgeEngine, template: Template,
                 settings: JudgeSettings = JudgeSettings(), *, name: str | None = None):
        if template.kind != self.kind:
            raise ConfigError(f"template {template.name!r} is {template.kind}, this judge is "
                              f"{self.kind}")
        if settings.mode == "logprobs" and not engine.supports_logprobs:
            raise ConfigError(f"engine {engine.name!r} returns no log-probabilities: use "
                              "mode 'parse' or 'auto'")
        self.engine, self.template, self.settings = engine, template, settings
        self.use_logprobs = settings.mode != "parse" and engine.supports_logprobs
        self.name = name or f"llm:{template.name}"
        self.model_calls = 0   # prompts sent to the engine (0 on a fully cached re-run)

    @property
    def signature(self) -> str:
        s = asdict(self.settings)
        s.pop("chunk")
        s.pop("verdict")   # how answers are combined, not what the model answered
        s["mode"] = "logprobs" if self.use_logprobs else "parse"
        if self.use_logprobs:
            s.pop("max_new_tokens")
        body = "|".join(f"{k}={v}" for k, v in sorted(s.items()))
        return (f"judge:{self.kind}|v{JUDGE_VERSION}|{self.engine.signature()}|"
                f"template={self.template.name}@{self.template.hash}|{body}")

    def _answer(self, prompts: dict[str, str], store=None,
                shown: dict[str, tuple] | None = None) -> dict[str, dict]:
        """key -> {label, probs, raw} for every key, from the store or the engine."""
        sig = self.signature
        done = store.judgments_for(sig, list(prompts)) if store is not None else {}
        todo = [k for k in prompts if k not in done]
        if done:
            log.info("%s: %d of %d answers cached", self.name, len(done), len(prompts))
        step = self.settings.chunk
        for start in range(0, len(todo), step):
            keys = todo[start:start + step]
            texts = [prompts[k] for k in keys]
            rows = self._run(texts)
            self.model_calls += len(texts)
            new = [{"signature": sig, "key": k, **r,
                    **dict(zip(("gen_first", "gen_second"), (shown or {}).get(k, ())))}
                   for k, r in zip(keys, rows)]
            if store is not None:
                store.add_judgments(new)
            done.update({r["key"]: {"label": r["label"], "probs": r["probs"], "raw": r["raw"]}
                         for r in new})
            log.info("%s: judged %d/%d", self.name, min(start + step, len(todo)), len(todo))
        cut = getattr(self.engine, "n_truncated", 0)
        if cut:
            log.warning("%s: %d prompt(s) were longer than the engine's max_prompt_tokens and "
                        "were cut from the left", self.name, cut)
        return done

    def _run(self, texts: list[str]) -> list[dict]:
        labels = self.template.labels
        if self.use_logprobs:
            lp = self.engine.option_logprobs(texts, labels)                # (n, k)
            probs = np.exp(lp - lp.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            return [{"label": labels[int(np.argmax(p))], "probs": p.tolist(), "raw": None}
                    for p in probs]
        answers = self.engine.generate(texts, max_new_tokens=self.settings.max_new_tokens)
        return [{"label": self.template.parse(a), "probs": None, "raw": a} for a in answers]


class PairwiseJudge(_CachedJudge):
    kind = "pairwise"

    def _prompt(self, instruction: str, first: str, second: str) -> tuple[str, str]:
        cut = self.settings.max_field_chars
        fields = dict(instruction=_cut(instruction, cut), response_first=_cut(first, cut),
                      response_second=_cut(second, cut))
        return _key(fields["instruction"], fields["response_first"],
                    fields["response_second"]), self.template.render(**fields)

    def judge(self, items: Sequence[PairItem], store=None):
        """One row per item: ``item_id, first_ab, first_ba`` (position verdicts of the two
        orders, None = unparsed), ``p_a, p_b, p_tie`` (log-prob mode), ``verdict`` (a/b/tie/
        None), ``outcome`` (1/0.5/0 for a, NaN without verdict), ``len_a, len_b`` (characters)."""
        import pandas as pd

        prompts, keys, shown = {}, [], {}
        for it in items:
            if it.a == it.b:
                raise ConfigError(f"item {it.item_id!r}: both responses are identical")
            k1, p1 = self._prompt(it.instruction, it.a, it.b)
            k2, p2 = self._prompt(it.instruction, it.b, it.a)
            prompts[k1], prompts[k2] = p1, p2
            keys.append((k1, k2))
            if it.gen_a and it.gen_b:
                shown[k1], shown[k2] = (it.gen_a, it.gen_b), (it.gen_b, it.gen_a)
        answers = self._answer(prompts, store, shown)
        position = dict(zip(self.template.labels, ("first", "second", "tie")))
        rows = []
        for it, (k1, k2) in zip(items, keys):
            r1, r2 = answers[k1], answers[k2]
            if self.settings.verdict == "ab" and r1["probs"] is not None \
                    and r2["probs"] is not None:
                row = {"item_id": it.item_id, "first_ab": _lean(r1["probs"]),
                       "first_ba": _lean(r2["probs"]), "raw_ab": None, "raw_ba": None,
                       "len_a": len(it.a), "len_b": len(it.b)}
                row.update(combine_ab(r1["probs"], r2["probs"]))
            else:
                row = {"item_id": it.item_id, "first_ab": position.get(r1["label"]),
                       "first_ba": position.get(r2["label"]), "raw_ab": r1["raw"],
                       "raw_ba": r2["raw"], "len_a": len(it.a), "len_b": len(it.b)}
                row.update(combine(r1, r2, labels=self.template.labels))
            rows.append(row)
        out = pd.DataFrame(rows)
        for col in ("first_ab", "first_ba", "verdict", "raw_ab", "raw_ba"):
            # None (unparsed) must stay None: pandas would turn it into NaN
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        out["outcome"] = out["verdict"].map({"a": 1.0, "b": 0.0, "tie": 0.5})
        return out


def _lean(probs) -> str:
    """The position an order's answer leans to, the tie label's mass left out."""
    return "first" if probs[0] > probs[1] else "second" if probs[1] > probs[0] else "tie"


def combine_ab(p_ab, p_ba) -> dict:
    """Verdict rule 'ab': ``P(a over b) = (P1(first)/(P1(first)+P1(second)) +
    P2(second)/(P2(first)+P2(second))) / 2`` over the two orders."""
    pa = (p_ab[0] / (p_ab[0] + p_ab[1]) + p_ba[1] / (p_ba[0] + p_ba[1])) / 2.0
    verdict = "a" if pa > 0.5 else "b" if pa < 0.5 else "tie"
    return {"p_a": pa, "p_b": 1.0 - pa, "p_tie": 0.0, "verdict": verdict}


def combine(ab: dict, ba: dict, *, labels: Sequence[str]) -> dict:
    """The item verdict from the answers of the two orders (see the module docstring)."""
    nan = float("nan")
    if ab["probs"] is not None and ba["probs"] is not None:
        p1, p2 = np.asarray(ab["probs"]), np.asarray(ba["probs"])
        pa = (p1[0] + p2[1]) / 2.0
        pb = (p1[1] + p2[0]) / 2.0
        pt = (p1[2] + p2[2]) / 2.0 if len(labels) == 3 else 0.0
        best = max(pa, pb, pt)
        verdict = "tie" if pt == best or pa == pb else ("a" if pa == best else "b")
        return {"p_a": pa, "p_b": pb, "p_tie": pt, "verdict": verdict}
    labels_pos = {0: "a", 1: "b"}

    def item(label_index: int | None, a_first: bool) -> str | None:
        if label_index is None:
            return None
        if label_index == 2:
            return "tie"
        return labels_pos[label_index] if a_first else labels_pos[1 - label_index]

    index = {lab: k for k, lab in enumerate(labels)}
    v1 = item(index.get(ab["label"]), True)
    v2 = item(index.get(ba["label"]), False)
    if v1 is None or v2 is None:
        verdict = v1 or v2
    else:
        verdict = v1 if v1 == v2 else "tie"
    return {"p_a": nan, "p_b": nan, "p_tie": nan, "verdict": verdict}


class PointwiseJudge(_CachedJudge):
    """A score per response: the probability-weighted label value in log-prob mode (labels
    must be numbers), the parsed label otherwise (NaN when unparsed)."""

    kind = "pointwise"

    def score(self, instructions: Sequence[str], responses: Sequence[str], store=None
              ) -> np.ndarray:
        cut = self.settings.max_field_chars
        prompts, keys = {}, []
        for ins, resp in zip(instructions, responses):
            f = dict(instruction=_cut(ins, cut), response=_cut(resp, cut))
            k = _key(f["instruction"], f["response"])
            prompts[k] = self.template.render(**f)
            keys.append(k)
        try:
            values = np.array([float(lab) for lab in self.template.labels])
        except ValueError:
            raise ConfigError(f"pointwise labels must be numbers, found {self.template.labels}")
        answers = self._answer(prompts, store)
        out = np.full(len(keys), np.nan)
        for n, k in enumerate(keys):
            a = answers[k]
            if a["probs"] is not None:
                out[n] = float(np.dot(a["probs"], values))
            elif a["label"] is not None:
                out[n] = float(a["label"])
        return out
