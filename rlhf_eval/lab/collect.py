"""On-policy comparison data: the simulated annotators compare a policy's own samples.

The lab's ``pairs.jsonl`` compares perturbations of the reference summary; a reward model
trained only on those is judged by PPO on something else, the policy's samples, whose mistakes
(a fact about the wrong entity, a sentence said five times) the perturbations may never show.
InstructGPT and Stiennon et al. (2020) therefore collect comparisons of samples from the
current policy. Here :func:`sample_policy` draws ``k`` samples per lab prompt and
:func:`annotate_samples` labels pairs of distinct samples with different gold rewards, each by an
annotator drawn at random (Bradley-Terry on the gold reward, as for ``pairs.jsonl``).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..schema import PreferencePair
from .annotators import DEFAULT_ANNOTATORS, Annotator, annotate_pair
from .gold import gold_reward


def annotate_samples(prompts: Sequence[str], samples: Sequence[Sequence[str]], *,
                     pairs_per_prompt: int = 2, seed: int = 0,
                     annotators: Sequence[Annotator] = DEFAULT_ANNOTATORS,
                     prompt_ids: Sequence[str] | None = None) -> list[PreferencePair]:
    """Preference pairs among each prompt's distinct samples (up to ``pairs_per_prompt`` per
    prompt, never two samples with the same gold reward: such a pair has no gold-better side).
    Each prompt draws from its own generator, seeded by ``seed`` and the prompt text, so the
    pairs of a prompt do not depend on which other prompts are labelled."""
    if len(prompts) != len(samples):
        raise DataError(f"expected one list of samples per prompt, found {len(prompts)} prompts "
                        f"and {len(samples)} lists", field="samples")
    if not annotators:
        raise DataError("expected at least one annotator", field="annotators")
    out = []
    for i, (prompt, texts) in enumerate(zip(prompts, samples)):
        digest = hashlib.sha256(prompt.encode("utf-8")).digest()
        rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
        pool = list(dict.fromkeys(t for t in texts if t.strip()))
        golds = [gold_reward(prompt, t)["gold"] for t in pool]
        options = [(a, b) for a in range(len(pool)) for b in range(a + 1, len(pool))
                   if golds[a] != golds[b]]
        if not options:
            continue
        for k in rng.choice(len(options), size=min(pairs_per_prompt, len(options)),
                            replace=False):
            a, b = options[int(k)]
            if rng.random() < 0.5:
                a, b = b, a
            annotator = annotators[int(rng.integers(len(annotators)))]
            meta = {"source": "policy"}
            if prompt_ids is not None:
                meta["prompt_id"] = prompt_ids[i]
            out.append(annotate_pair(rng, annotator, prompt, pool[a], pool[b], meta=meta))
    return out


def sample_policy(model, tokenizer, prompts: Sequence[str], prompt_ids: Sequence[str], *,
                  samples_per_prompt: int, temperature: float = 1.0, max_new_tokens: int = 48,
                  seed: int = 0, batch_size: int = 32, device="cpu") -> list[list[str]]:
    """``samples_per_prompt`` sampled completions per prompt (seeded per prompt and sample, so
    the batch size does not change them)."""
    from ..lm.generate import GenerationSettings, generate_batch

    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=True,
                                  temperature=temperature, batch_size=batch_size, seed=seed)
    flat = [(p, f"{pid}-s{k}") for p, pid in zip(prompts, prompt_ids)
            for k in range(samples_per_prompt)]
    texts = []
    for start in range(0, len(flat), batch_size):
        chunk = flat[start:start + batch_size]
        texts += [t for t, _ in generate_batch(model, tokenizer, [p for p, _ in chunk],
                                               [s for _, s in chunk], settings, device)]
    return [texts[i:i + samples_per_prompt] for i in range(0, len(texts), samples_per_prompt)]
