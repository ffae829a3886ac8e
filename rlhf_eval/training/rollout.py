"""Prompts in, sampled completions out: tokenising with left truncation, and a KV-cached
sampler whose randomness does not depend on how the batch is split across processes.

Every token is drawn by inverse-CDF sampling from one uniform number that belongs to the
episode (its index in the *global* batch) and the step, so one process sampling 16 episodes and
two processes sampling 8 each draw the same completions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DataError
from .ops import truncate_after_eos
from .ppo_models import masked_logits, positions_from_mask


def read_prompts(path: str | Path) -> list[str]:
    """The ``prompt`` field of every JSONL record (Sample records, or any object with one)."""
    from ..io import iter_jsonl

    prompts = []
    for line_no, record in iter_jsonl(path):
        if "prompt" not in record:
            raise DataError("expected an object with a 'prompt'", path=str(path),
                            line=line_no, field="prompt")
        if not isinstance(record["prompt"], str) or not record["prompt"].strip():
            raise DataError(f"expected a non-empty string, found {record['prompt']!r:.60}",
                            path=str(path), line=line_no, field="prompt")
        prompts.append(record["prompt"])
    if not prompts:
        raise DataError("no prompts found", path=str(path))
    return prompts


@dataclass
class EncodedPrompts:
    input_ids: torch.Tensor       # (B, Tq) left-padded
    attention_mask: torch.Tensor  # (B, Tq)
    truncated: int                # prompts cut from the left to fit the context


def encode_prompts(tokenizer, prompts: list[str], max_prompt_length: int) -> EncodedPrompts:
    """Tokenise, drop an EOS the tokenizer may append (a prompt is not finished text), keep the
    last ``max_prompt_length`` tokens (the end of a prompt is closest to the completion) and
    left-pad to the longest."""
    ids_list, truncated = [], 0
    for ids in tokenizer(list(prompts), add_special_tokens=True)["input_ids"]:
        if ids and ids[-1] == tokenizer.eos_token_id:
            ids = ids[:-1]
        if len(ids) > max_prompt_length:
            ids, truncated = ids[-max_prompt_length:], truncated + 1
        ids_list.append(ids)
    width = max(len(ids) for ids in ids_list)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(ids_list), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids_list), width), dtype=torch.long)
    for i, ids in enumerate(ids_list):
        if ids:
            input_ids[i, width - len(ids):] = torch.tensor(ids)
            mask[i, width - len(ids):] = 1
    return EncodedPrompts(input_ids, mask, truncated)


@torch.no_grad()
def sample(model, query: torch.Tensor, query_mask: torch.Tensor, uniforms: torch.Tensor, *,
           temperature: float, eos_token_id: int, pad_token_id: int) -> torch.Tensor:
    """Sample ``uniforms.size(1)`` tokens per row with a KV cache; returns (B, T) responses,
    truncated after the first EOS and right-padded.

    ``uniforms`` (B, T) in [0, 1): token t of row b is the first vocabulary entry whose
    cumulative probability exceeds ``uniforms[b, t]`` (inverse CDF)."""
    B, T = uniforms.shape
    mask = query_mask.clone()
    out = model(input_ids=query, attention_mask=mask, position_ids=positions_from_mask(mask),
                use_cache=True, logits_to_keep=1)  # no LM head over the prompt
    past, logits = out.past_key_values, out.logits[:, -1]
    next_pos = positions_from_mask(mask)[:, -1] + 1
    done = torch.zeros(B, dtype=torch.bool, device=query.device)
    tokens = torch.full((B, T), pad_token_id, dtype=torch.long, device=query.device)
    for t in range(T):
        cdf = torch.softmax(masked_logits(logits, temperature, pad_token_id), -1).cumsum(-1)
        u = uniforms[:, t:t + 1].to(cdf.device) * cdf[:, -1:]
        tok = torch.searchsorted(cdf, u).squeeze(1).clamp(max=cdf.size(-1) - 1)
        tok = torch.where(done, torch.full_like(tok, pad_token_id), tok)
        tokens[:, t] = tok
        done |= tok == eos_token_id
        if bool(done.all()) or t == T - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=tok.unsqueeze(1), attention_mask=mask,
                    position_ids=next_pos.unsqueeze(1), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1]
        next_pos = next_pos + 1
    return truncate_after_eos(tokens, eos_token_id, pad_token_id)
