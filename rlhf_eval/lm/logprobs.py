"""Teacher-forced log-probabilities of given tokens: PPO's rollout/update log-probs and the
evaluation ``kl`` metric both come from here.

Position t of a causal LM's logits predicts token t + 1, so the log-prob of a completion of T
tokens is read from the T positions before it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ModelError
from .encode import context_limit, encode_prompts, positions_from_mask
from .generate import block_early_eos, masked_logits

# Log-prob stored at padding positions: any finite value works because those positions are
# masked out of every loss; TRL uses 1.0 so that a missing mask shows up as a positive KL.
INVALID_LOGPROB = 1.0


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """log softmax(logits)[label] for (B, T, V) logits and (B, T) labels, computed in ``dtype``
    (fp32 for PPO; the ``kl`` metric sums many terms and asks for fp64)."""
    logp = F.log_softmax(logits.to(dtype), dim=-1)
    return torch.gather(logp, 2, labels.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution at each position (B, T)."""
    logits = logits.float()
    pd = F.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (pd * logits).sum(-1)


def response_logprobs(logits: torch.Tensor, response: torch.Tensor, mask: torch.Tensor, *,
                      temperature: float, pad_token_id: int, entropy: bool = False,
                      eos_token_id: int | None = None, min_new_tokens: int = 0):
    """Log-probs (B, T) of the response tokens from logits whose last T + 1 positions cover the
    response, as the sampler saw them (temperature, pad masked, EOS blocked before
    ``min_new_tokens``); ``INVALID_LOGPROB`` outside ``mask``. With ``entropy`` also the
    per-token entropy (B, T), else None."""
    T = response.size(1)
    logits = masked_logits(logits[:, -(T + 1):-1], temperature, pad_token_id)
    if eos_token_id is not None:
        logits = block_early_eos(logits, eos_token_id, min_new_tokens)
    logp = logprobs_from_logits(logits, response)
    logp = torch.where(mask, logp, torch.full_like(logp, INVALID_LOGPROB))
    if not entropy:
        return logp, None
    return logp, entropy_from_logits(logits.masked_fill(torch.isinf(logits), -1e9))


def completion_logprobs(model, tokenizer, prompts: Sequence[str], completions: Sequence[str], *,
                        max_prompt_tokens: int, batch_size: int, device) -> list[np.ndarray]:
    """Per-token log-probabilities (float64 arrays) of each completion text after its prompt,
    at temperature 1.

    Prompts are encoded as the sampler encodes them (a trailing EOS dropped, cut from the
    left); completions with ``add_special_tokens=False``. Rows are left-padded with positions
    that ignore the padding, so a row's numbers do not depend on its batch (up to rounding).
    """
    limit = context_limit(model)
    out: list[np.ndarray] = [np.zeros(0)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(completions[i]))
    model.eval()
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        q = encode_prompts(tokenizer, [prompts[i] for i in rows], max_prompt_tokens)
        comp = [tokenizer(completions[i], add_special_tokens=False)["input_ids"] for i in rows]
        qlen = q.attention_mask.sum(1).tolist()
        seqs = []
        for b in range(len(rows)):
            query = q.input_ids[b, q.input_ids.size(1) - qlen[b]:].tolist()
            if limit is not None and len(query) + len(comp[b]) > limit:
                if len(comp[b]) >= limit:
                    raise ModelError(f"a completion of {len(comp[b])} tokens does not fit the "
                                     f"model's {limit} positions")
                query = query[len(query) + len(comp[b]) - limit:]  # cut the prompt's start
            seqs.append(query + comp[b])
        width = max(len(s) for s in seqs)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, s in enumerate(seqs):
            ids[b, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[b, width - len(s):] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask,
                           position_ids=positions_from_mask(mask)).logits  # (B, T, V)
            tok_logp = logprobs_from_logits(logits[:, :-1], ids[:, 1:], torch.float64)
        for b, i in enumerate(rows):
            n = len(comp[b])
            out[i] = tok_logp[b, tok_logp.size(1) - n:].cpu().numpy() if n else np.zeros(0)
    return out
