"""Batched reward scoring of prompt/completion pairs with any one-label RM.

Length-sorted batches in inference mode; results are put back in input order, so the scores do
not depend on the batch size (up to float rounding of differently shaped matrix products).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ModelError
from .reward_data import Encoded, encode, pad_batch, sorted_batches

log = logging.getLogger(__name__)


@dataclass
class ScoreStats:
    n: int = 0
    truncated: int = 0  # sequences cut from the left to fit max_length
    empty_completions: int = 0  # scored on the prompt alone (a legitimate, bad output)


def model_max_length(model, tokenizer, requested: int | None) -> int:
    """The length limit: the request, capped by the position embeddings and the tokenizer."""
    limits = [requested] if requested else []
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
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
    """Score prompt/completion pairs with a saved RM (an id or a folder).

    >>> scorer = RewardScorer("runs/rm", batch_size=32)
    >>> scorer.score(["Q: 2+2?\\nA:"], [" 4"])           # doctest: +SKIP
    array([1.23])
    """

    def __init__(self, model_path: str, *, device: str | None = "auto", batch_size: int = 16,
                 max_length: int | None = None, bf16: bool = False,
                 trust_remote_code: bool = False, progress: bool = False):
        from ..models import pick_device
        from .reward_model import load_reward_model

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
