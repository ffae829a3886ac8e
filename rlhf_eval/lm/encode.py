"""Prompts to tensors: tokenising with left truncation and left padding, position ids that
ignore the padding, the model's context limit, and cutting a completion after its first EOS.

One home for what the sampler, the teacher-forced log-probs, the PPO trainer and the reward
model all need to agree on (a prompt encoded for PPO is the prompt encoded for evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError


def context_limit(model) -> int | None:
    """The model's position limit (GPT-2 ``n_positions``, Llama ``max_position_embeddings``);
    None when the config names neither (e.g. rotary models configured without one)."""
    for attr in ("n_positions", "max_position_embeddings"):
        value = getattr(getattr(model, "config", None), attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def prompt_budget(model, max_prompt_tokens: int, max_new_tokens: int) -> int:
    """Prompt tokens kept (from the end): ``max_prompt_tokens``, capped so that prompt and
    completion fit the model's positions (past them GPT-2 fails with an index error)."""
    limit = context_limit(model)
    if limit is None:
        return max_prompt_tokens
    if max_new_tokens >= limit:
        raise ConfigError(f"max_new_tokens={max_new_tokens} does not fit the model's "
                          f"{limit} positions")
    return min(max_prompt_tokens, limit - max_new_tokens)


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding, so a prompt's tokens get the same positions
    whatever the batch it is padded in."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def first_true_indices(bools: torch.Tensor, dtype=torch.long) -> torch.Tensor:
    """Index of the first True in each row of ``bools`` (B, T); T where a row has none."""
    row_len = bools.size(-1)
    zero_or_index = row_len * (~bools).type(dtype) + torch.arange(row_len, dtype=dtype,
                                                                   device=bools.device)
    return torch.min(zero_or_index, dim=-1).values


def truncate_after_eos(responses: torch.Tensor, eos_token_id: int,
                       pad_token_id: int) -> torch.Tensor:
    """Replace every token after the first EOS by pad (the EOS itself is kept).

    Huang et al. 2024 (detail 4): a completion ends at its first EOS; what the sampler produced
    after it must not be scored nor trained on.
    """
    eos_idx = first_true_indices(responses == eos_token_id)  # (B,)
    positions = torch.arange(responses.size(1), device=responses.device)
    after = positions.unsqueeze(0) > eos_idx.unsqueeze(1)
    return torch.where(after, torch.full_like(responses, pad_token_id), responses)


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
