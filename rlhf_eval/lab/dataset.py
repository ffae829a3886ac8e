"""The whole lab dataset from one seed: prompts (train/eval), SFT data, pairs, rankings and
ratings from the simulated annotators.

Every example and every annotation draws from its own generator seeded by
``(seed, stream, index)``, so the same seed gives the same records, and changing how many
pairs are drawn does not change the documents.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ConfigError
from ..schema import Judgement, PreferencePair, Ranking, Sample
from .annotators import (DEFAULT_ANNOTATORS, Annotator, annotate_pair, annotate_ranking,
                         rate_sample)
from .documents import DocumentConfig, LabExample, make_example
from .gold import gold_reward
from .perturb import candidates

SPLITS = ("train", "eval")
_STREAM = {("doc", "train"): 0, ("doc", "eval"): 1, ("ann", "train"): 2, ("ann", "eval"): 3,
           ("rank", "train"): 4, ("rate", "eval"): 5}


@dataclass(frozen=True)
class LabConfig:
    size: str = "demo"
    seed: int = 0
    n_train: int = 2000
    n_eval: int = 200
    candidates_per_prompt: int = 6
    pairs_per_prompt: int = 2          # pairs per train prompt (pairs.jsonl)
    eval_pairs_per_prompt: int = 2     # pairs per eval prompt (pairs_eval.jsonl)
    n_rankings: int = 500              # rankings of `ranking_size` on the first train prompts
    ranking_size: int = 4
    n_rated_prompts: int = 100         # eval prompts whose candidates every annotator rates
    rated_per_prompt: int = 3
    documents: DocumentConfig = field(default_factory=DocumentConfig)
    annotators: tuple[Annotator, ...] = DEFAULT_ANNOTATORS


SIZES: dict[str, dict] = {
    "demo": {},
    # shorter, simpler documents (one entity, two key facts): a tiny policy learns them in a
    # few hundred SFT steps, which keeps the tests of every area that trains on the lab fast
    "test": dict(n_train=300, n_eval=40, n_rankings=60, n_rated_prompts=20,
                 documents=DocumentConfig(entities=(1, 1), key_facts=(2, 2),
                                          distractor_facts=(1, 2), filler_sentences=(0, 1))),
}


def lab_config(size: str = "demo", seed: int = 0, **overrides) -> LabConfig:
    if size not in SIZES:
        raise ConfigError(f"unknown lab size {size!r}; expected one of {sorted(SIZES)}")
    cfg = replace(LabConfig(size=size, seed=seed), **{**SIZES[size], **overrides})
    if cfg.n_train < 1 or cfg.n_eval < 1:
        raise ConfigError(f"a lab needs train and eval prompts, found n_train={cfg.n_train}, "
                          f"n_eval={cfg.n_eval}")
    if not cfg.annotators:
        raise ConfigError("a lab needs at least one annotator")
    if cfg.ranking_size < 2 or cfg.ranking_size > cfg.candidates_per_prompt:
        raise ConfigError(f"ranking_size must be in [2, candidates_per_prompt], found "
                          f"{cfg.ranking_size}")
    return cfg


@dataclass(frozen=True)
class LabDataset:
    config: LabConfig
    train: tuple[LabExample, ...]
    eval: tuple[LabExample, ...]
    pairs: tuple[PreferencePair, ...]
    pairs_eval: tuple[PreferencePair, ...]
    rankings: tuple[Ranking, ...]
    rating_samples: tuple[Sample, ...]
    ratings: tuple[Judgement, ...]

    def sft_samples(self) -> list[Sample]:
        return [Sample(ex.prompt, ex.reference, [ex.reference], id=ex.id) for ex in self.train]

    def prompts(self, split: str) -> list[Sample]:
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")
        examples = self.train if split == "train" else self.eval
        return [Sample(ex.prompt, "", [ex.reference], id=ex.id,
                       meta={"n_key_facts": len(ex.key_facts)}) for ex in examples]


def _rng(cfg: LabConfig, stream: tuple[str, str], index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, _STREAM[stream], index])


def _examples(cfg: LabConfig, split: str, n: int, exclude: set[str]) -> list[LabExample]:
    """``n`` examples with distinct prompts, none in ``exclude`` (keeps train/eval disjoint)."""
    out, seen, index = [], set(exclude), 0
    while len(out) < n:
        ex = make_example(_rng(cfg, ("doc", split), index), cfg.documents,
                          example_id=f"{split}-{len(out):05d}", split=split)
        index += 1
        if index > 20 * n + 100:
            raise ConfigError(f"cannot draw {n} distinct {split} documents from this grammar")
        if ex.prompt not in seen:
            seen.add(ex.prompt)
            out.append(ex)
    return out


def _distinct_gold_pairs(rng, ex: LabExample, pool, n: int):
    """Up to ``n`` index pairs of candidates with different gold rewards (no gold ties: a
    tie has no gold-better side to agree with)."""
    golds = [gold_reward(ex.prompt, c.text)["gold"] for c in pool]
    options = [(i, j) for i in range(len(pool)) for j in range(i + 1, len(pool))
               if golds[i] != golds[j]]
    if not options:
        return []
    picked = rng.choice(len(options), size=min(n, len(options)), replace=False)
    return [options[int(k)] for k in picked]


def _pairs(cfg: LabConfig, split: str, examples, per_prompt: int) -> list[PreferencePair]:
    out = []
    for k, ex in enumerate(examples):
        rng = _rng(cfg, ("ann", split), k)
        pool = candidates(rng, ex, cfg.candidates_per_prompt)
        for i, j in _distinct_gold_pairs(rng, ex, pool, per_prompt):
            annotator = cfg.annotators[int(rng.integers(len(cfg.annotators)))]
            a, b = (pool[i], pool[j]) if rng.random() < 0.5 else (pool[j], pool[i])
            out.append(annotate_pair(rng, annotator, ex.prompt, a.text, b.text, meta={
                "prompt_id": ex.id, "split": split, "ops_a": list(a.ops),
                "ops_b": list(b.ops)}))
    return out


def _rankings(cfg: LabConfig, examples) -> list[Ranking]:
    out = []
    for k, ex in enumerate(examples[:cfg.n_rankings]):
        rng = _rng(cfg, ("rank", "train"), k)
        pool = candidates(rng, ex, cfg.candidates_per_prompt)
        if len(pool) < cfg.ranking_size:
            continue
        picked = rng.choice(len(pool), size=cfg.ranking_size, replace=False)
        annotator = cfg.annotators[int(rng.integers(len(cfg.annotators)))]
        out.append(annotate_ranking(rng, annotator, ex.prompt,
                                    [pool[int(i)].text for i in picked],
                                    meta={"prompt_id": ex.id, "split": "train"}))
    return out


def _ratings(cfg: LabConfig, examples) -> tuple[list[Sample], list[Judgement]]:
    samples, judgements = [], []
    for k, ex in enumerate(examples[:cfg.n_rated_prompts]):
        rng = _rng(cfg, ("rate", "eval"), k)
        for c_index, cand in enumerate(candidates(rng, ex, cfg.rated_per_prompt)):
            sid = f"{ex.id}-c{c_index}"
            samples.append(Sample(ex.prompt, cand.text, [ex.reference], id=sid,
                                  meta={"prompt_id": ex.id, "ops": list(cand.ops),
                                        **gold_reward(ex.prompt, cand.text)}))
            for annotator in cfg.annotators:  # every annotator rates every sample
                judgements += rate_sample(rng, annotator, ex.prompt, cand.text, sid)
    return samples, judgements


def generate_lab(cfg: LabConfig) -> LabDataset:
    train = _examples(cfg, "train", cfg.n_train, set())
    eval_ = _examples(cfg, "eval", cfg.n_eval, {ex.prompt for ex in train})
    samples, judgements = _ratings(cfg, eval_)
    return LabDataset(
        cfg, tuple(train), tuple(eval_),
        tuple(_pairs(cfg, "train", train, cfg.pairs_per_prompt)),
        tuple(_pairs(cfg, "eval", eval_, cfg.eval_pairs_per_prompt)),
        tuple(_rankings(cfg, train)), tuple(samples), tuple(judgements))
