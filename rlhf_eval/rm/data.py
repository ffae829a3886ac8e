"""Turning prompt/completion text into RM inputs: tokenization, left truncation, dynamic padding
and length-grouped batches.

The text goes through the tokenizer's own call (``tokenizer(prompt + completion)`` for causal
backbones, ``tokenizer(prompt, completion)`` for encoders), special tokens included, so the ids
equal what a ``transformers`` pipeline builds from the same strings (see
:mod:`rlhf_eval.rm.model`). Only sequences over ``max_length`` are re-encoded with
left truncation: the start of the prompt is dropped first and the completion's end (where a
causal RM reads its score) always survives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import DataError


@dataclass
class Encoded:
    """Token ids of N texts (lists of ints), plus how many had to be truncated."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None = None
    truncated: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (N,)
    empty_completions: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64,
                           count=len(self.input_ids))


def _call(tokenizer, prompts, completions, fmt, **kw):
    if fmt == "pair":
        return tokenizer(list(prompts), list(completions), **kw)
    return tokenizer([p + c for p, c in zip(prompts, completions)], **kw)


def encode(tokenizer, prompts: Sequence[str], completions: Sequence[str], *, fmt: str,
           max_length: int) -> Encoded:
    """Tokenize prompt/completion pairs; over-long ones are cut from the left of the prompt."""
    if len(prompts) != len(completions):
        raise DataError(f"{len(prompts)} prompts but {len(completions)} completions")
    for i, (p, c) in enumerate(zip(prompts, completions)):
        if not isinstance(p, str) or not isinstance(c, str):
            raise DataError(f"item {i}: expected strings, found {type(p).__name__} and "
                            f"{type(c).__name__}", field="completion")
        if not p.strip() and not c.strip():
            raise DataError(f"item {i}: both prompt and completion are empty: nothing to score",
                            field="completion")
    enc = _call(tokenizer, prompts, completions, fmt, add_special_tokens=True)
    ids = list(enc["input_ids"])
    types = list(enc["token_type_ids"]) if "token_type_ids" in enc else None
    truncated = np.fromiter((len(x) > max_length for x in ids), dtype=bool, count=len(ids))
    long = np.flatnonzero(truncated)
    if len(long):
        _truncate_left(tokenizer, prompts, completions, fmt, max_length, long, ids, types)
    empty = sum(1 for c in completions if not c.strip())
    return Encoded(ids, types, truncated, empty)


def _truncate_left(tokenizer, prompts, completions, fmt, max_length, rows, ids, types):
    side = tokenizer.truncation_side
    tokenizer.truncation_side = "left"
    try:
        for i in rows:
            p, c = prompts[i], completions[i]
            if fmt == "pair":
                # drop from the prompt first; only a completion longer than the limit on its
                # own loses its beginning as well
                n_special = tokenizer.num_special_tokens_to_add(pair=True)
                n_comp = len(tokenizer(c, add_special_tokens=False)["input_ids"])
                strategy = "only_first" if n_comp + n_special < max_length else "longest_first"
                out = tokenizer(p, c, truncation=strategy, max_length=max_length)
            else:
                out = tokenizer(p + c, truncation=True, max_length=max_length)
            ids[i] = out["input_ids"]
            if types is not None:
                types[i] = out["token_type_ids"]
    finally:
        tokenizer.truncation_side = side


def pad_batch(encoded: Encoded, rows: Sequence[int], pad_id: int):
    """Right-padded tensors for ``rows``: input_ids, attention_mask (+ token_type_ids). (B, T)"""
    import torch

    seqs = [encoded.input_ids[i] for i in rows]
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for j, s in enumerate(seqs):
        input_ids[j, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[j, :len(s)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if encoded.token_type_ids is not None:
        types = torch.zeros((len(seqs), width), dtype=torch.long)
        for j, i in enumerate(rows):
            t = encoded.token_type_ids[i]
            types[j, :len(t)] = torch.tensor(t, dtype=torch.long)
        batch["token_type_ids"] = types
    return batch


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Inference batches of similar length (longest first), to waste little on padding."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           *, mega: int = 50) -> list[np.ndarray]:
    """Training batches: shuffle, sort by length within mega-batches of ``mega`` batches, split,
    and shuffle the batch order (the scheme of transformers' ``LengthGroupedSampler``): little
    padding, yet every batch order is random."""
    perm = rng.permutation(len(lengths))
    batches = []
    span = mega * batch_size
    for start in range(0, len(perm), span):
        chunk = perm[start:start + span]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    perm = rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def read_pairs(path, *, adapter: str | None = None, on_error: str = "raise"):
    """Preference pairs from a file of pairs or rankings (a ranking of K gives all K(K-1)/2
    pairs, InstructGPT style). ``adapter``: e.g. ``"hh-rlhf"`` for whole-dialogue files."""
    from ..io import guess_kind, read_records, to_pairs

    kind = "pair" if adapter else guess_kind(path)
    if kind not in ("pair", "ranking"):
        raise DataError(f"expected preference pairs or rankings, found {kind} records",
                        path=str(path))
    result = read_records(path, kind, adapter=adapter, on_error=on_error)
    pairs = to_pairs(result.records)
    if not pairs:
        raise DataError("no preference pairs in the file", path=str(path))
    return pairs, result
