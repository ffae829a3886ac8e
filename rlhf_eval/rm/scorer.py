"""Reward scoring of prompt/completion pairs with any one-label RM: the one
:class:`RewardScorer`, with two entrances.

- From a saved path (``RewardScorer("runs/rm")``: evaluation, ``rlhf-eval score``/``eval-rm``):
  length-sorted batches in inference mode; results are put back in input order, so the scores
  do not depend on the batch size (up to float rounding of differently shaped matrix products).
- From a live model inside PPO (``RewardScorer(policy_tokenizer=..., model=... | fn=...)``):
  called with the rollout's token ids; an RM sharing the policy's vocabulary is scored straight
  from the ids (TRL's ``get_reward``), one with another tokenizer gets the decoded texts
  re-encoded, a python ``fn(prompts, completions)`` gets the texts.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import ModelError
from ..lm.encode import context_limit
from .data import Encoded, encode, pad_batch, sorted_batches

RewardFn = Callable[[Sequence[str], Sequence[str]], Sequence[float]]

log = logging.getLogger(__name__)


@dataclass
class ScoreStats:
    n: int = 0
    truncated: int = 0  # sequences cut from the left to fit max_length
    empty_completions: int = 0  # scored on the prompt alone (a legitimate, bad output)


def model_max_length(model, tokenizer, requested: int | None) -> int:
    """The length limit: the request, capped by the position embeddings and the tokenizer."""
    limits = [requested] if requested else []
    if context_limit(model) is not None:
        limits.append(context_limit(model))
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else 512


def forward_rewards(model, batch, *, autocast_dtype=None):
    """Rewards (B,) for a padded batch already on the model's device."""
    import torch

    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(**batch).logits  # (B, 1)
    return logits[:, 0].float()


def score_encoded(model, encoded: Encoded, *, pad_id: int, batch_size: int, device,
                  autocast_dtype=None, offset: float = 0.0, progress: bool = False) -> np.ndarray:
    """Scores of every encoded sequence, in input order (float64, (N,))."""
    import torch
    from tqdm.auto import tqdm

    out = np.empty(len(encoded), dtype=np.float64)
    batches = sorted_batches(encoded.lengths, batch_size)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for rows in tqdm(batches, desc="scoring", unit="batch", disable=not progress):
                batch = {k: v.to(device) for k, v in pad_batch(encoded, rows, pad_id).items()}
                out[rows] = forward_rewards(model, batch, autocast_dtype=autocast_dtype
                                            ).cpu().numpy() - offset
    finally:
        model.train(was_training)
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise ModelError(f"the reward model returned non-finite scores for {len(bad)} of "
                         f"{len(out)} inputs (first at index {bad[0]}); the weights may be "
                         "corrupt or the precision too low (try without bf16)")
    return out


class RewardScorer:
    """Score prompt/completion pairs with a reward model; see the module doc for the two
    entrances.

    >>> scorer = RewardScorer("runs/rm", batch_size=32)
    >>> scorer.score(["Q: 2+2?\\nA:"], [" 4"])           # doctest: +SKIP
    array([1.23])
    """

    def __init__(self, model_path: str | None = None, *, device: str | None = "auto",
                 batch_size: int = 16, max_length: int | None = None, bf16: bool = False,
                 trust_remote_code: bool = False, progress: bool = False,
                 policy_tokenizer=None, model=None, tokenizer=None, fn: RewardFn | None = None,
                 offset: float = 0.0, disable_adapters: bool = False, pair_format: bool = False):
        if model_path is not None:
            if any(x is not None for x in (policy_tokenizer, model, tokenizer, fn)):
                raise ModelError("give a saved reward model's path or a live model/function, "
                                 "not both")
            self._init_saved(model_path, device, batch_size, max_length, bf16,
                             trust_remote_code, progress)
        else:
            self._init_live(policy_tokenizer, model, tokenizer, fn, offset, disable_adapters,
                            max_length, pair_format)

    # ------------------------------------------------------------------ from a saved path

    def _init_saved(self, model_path, device, batch_size, max_length, bf16, trust_remote_code,
                    progress):
        from ..models import pick_device
        from .model import load_reward_model

        if batch_size < 1:
            raise ModelError(f"batch_size must be >= 1, found {batch_size}")
        self.model_path = str(model_path)
        self.device = pick_device(device)
        loaded = load_reward_model(self.model_path, device=self.device,
                                   trust_remote_code=trust_remote_code)
        self.model, self.tokenizer, self.fmt = loaded.model, loaded.tokenizer, loaded.fmt
        self.offset = loaded.offset
        self.batch_size = batch_size
        self.max_length = model_max_length(self.model, self.tokenizer, max_length)
        self.bf16 = bf16
        self.progress = progress
        self.stats = ScoreStats()
        self.fn, self.disable_adapters = None, False

    # ------------------------------------------------------------- from a live model (PPO)

    def _init_live(self, policy_tokenizer, model, tokenizer, fn, offset, disable_adapters,
                   max_length, pair_format):
        from .model import same_vocabulary

        if (model is None) == (fn is None):
            raise ModelError("give either a reward model or a reward function, not both/neither")
        self.model_path = "<in-memory>"
        self.policy_tokenizer = policy_tokenizer
        self.model, self.fn, self.offset = model, fn, offset
        self.disable_adapters = disable_adapters
        self.tokenizer = tokenizer or policy_tokenizer
        self.pair_format = pair_format  # encoder RMs read (prompt, completion) as a text pair
        self.shares_tokens = model is not None and not pair_format and \
            same_vocabulary(self.tokenizer, policy_tokenizer)
        if model is not None and not self.shares_tokens:
            if self.tokenizer.pad_token is None:
                raise ModelError("the reward model's tokenizer differs from the policy's and has "
                                 "no pad token: cannot re-encode completions for it in batches")
            log.info("reward model tokenizer differs from the policy's: completions are decoded "
                     "and re-encoded for the RM")
        self.max_length = max_length or getattr(self.tokenizer, "model_max_length", 1024)

    @contextmanager
    def _rm(self):
        ctx = self.model.disable_adapter() if self.disable_adapters else nullcontext()
        with ctx:
            yield self.model

    def __call__(self, query, response, lengths, prompts: Sequence[str],
                 completions: Sequence[str]):
        """Scores (B,) of a rollout: ``query`` (B, Tq) left-padded policy ids, ``response``
        (B, T) right-padded, ``lengths`` (B,) real response tokens, and their texts."""
        import torch

        with torch.no_grad():
            if self.fn is not None:
                scores = torch.as_tensor([float(s) for s in self.fn(prompts, completions)],
                                         dtype=torch.float32)
                return scores.to(query.device)
            if self.shares_tokens:
                return self._score_ids(query, response, lengths)
            return self._score_texts(prompts, completions, query.device)

    def _score_ids(self, query, response, lengths):
        import torch

        from .model import token_scalars

        ids = torch.cat([query, response], dim=1)
        mask = ids != self.policy_tokenizer.pad_token_id
        with self._rm() as rm:
            per_token = token_scalars(rm, ids, mask)
        last = query.size(1) + lengths - 1
        return per_token[torch.arange(ids.size(0), device=ids.device), last] - self.offset

    def _score_texts(self, prompts, completions, device):
        tok = self.tokenizer
        side, tok.padding_side, tok.truncation_side = tok.padding_side, "right", "left"
        try:
            if self.pair_format:
                enc = tok(list(prompts), list(completions), padding=True,
                          truncation="only_first", max_length=self.max_length,
                          return_tensors="pt")
            else:
                enc = tok([p + c for p, c in zip(prompts, completions)], padding=True,
                          truncation=True, max_length=self.max_length, return_tensors="pt")
        finally:
            tok.padding_side = side
        enc = {k: v.to(device) for k, v in enc.items()}
        with self._rm() as rm:
            scores = rm(**enc).logits[:, 0].float()
        return scores - self.offset

    # --------------------------------------------------------------------- texts to scores

    @property
    def signature(self) -> str:
        import torch
        import transformers

        return (f"rm:{self.model_path}|fmt:{self.fmt}|max_len:{self.max_length}|"
                f"{'bf16' if self.bf16 else 'fp32'}|torch:{torch.__version__}|"
                f"transformers:{transformers.__version__}")

    def encode(self, prompts: Sequence[str], completions: Sequence[str]) -> Encoded:
        return encode(self.tokenizer, prompts, completions, fmt=self.fmt,
                      max_length=self.max_length)

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        """One reward per (prompt, completion), float64, input order."""
        import torch

        if len(prompts) == 0 and len(completions) == 0:
            self.stats = ScoreStats()
            return np.zeros(0)
        encoded = self.encode(prompts, completions)
        self.stats = ScoreStats(len(encoded), int(encoded.truncated.sum()),
                                encoded.empty_completions)
        if self.stats.truncated:
            log.warning("%d of %d sequences were longer than %d tokens and were cut from the "
                        "left of the prompt", self.stats.truncated, self.stats.n, self.max_length)
        if self.stats.empty_completions:
            log.warning("%d empty completion(s) scored on the prompt alone",
                        self.stats.empty_completions)
        return score_encoded(self.model, encoded, pad_id=self.tokenizer.pad_token_id,
                             batch_size=self.batch_size, device=self.device,
                             autocast_dtype=torch.bfloat16 if self.bf16 else None,
                             offset=self.offset, progress=self.progress)

    def score_pairs(self, pairs) -> tuple[np.ndarray, np.ndarray]:
        """Rewards of the chosen and rejected sides of preference pairs (one pass)."""
        n = len(pairs)
        prompts = [p.prompt for p in pairs] * 2
        completions = [p.chosen for p in pairs] + [p.rejected for p in pairs]
        rewards = self.score(prompts, completions)
        return rewards[:n], rewards[n:]
