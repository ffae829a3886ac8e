"""The four roles of PPO (policy, reference, value, reward) and how they are held in memory.

Full mode holds four models: the trained policy, a frozen reference copy, a value model
initialised from the RM (its score head applied at every token, Huang et al. 2024 detail 6) and
the frozen RM. LoRA mode holds two: the reference is the policy with its adapters disabled and
the RM is the value model with its adapters disabled (peft's ``disable_adapter`` also restores
the original score head kept in ``modules_to_save``), so no second copy of a base is made.
"""
from __future__ import annotations

import copy
import logging
from contextlib import contextmanager, nullcontext
from typing import Callable, Sequence

import torch
from torch import nn

from ..errors import ModelError

log = logging.getLogger(__name__)

RewardFn = Callable[[Sequence[str], Sequence[str]], Sequence[float]]


def fast_activations(model: nn.Module) -> int:
    """Swap transformers' python GELU-tanh (5 elementwise kernels, GPT-2's ``gelu_new``) for
    the fused ``F.gelu(approximate="tanh")``: the same function up to float rounding (~1e-7),
    and ~25% of a tiny GPT-2's PPO step on CPU. Returns how many modules were swapped."""
    from transformers.activations import GELUTanh, NewGELUActivation

    swapped = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is NewGELUActivation:
                setattr(parent, name, GELUTanh())
                swapped += 1
    return swapped


def _unpeft(model):
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def backbone_and_head(seqcls_model):
    """(backbone, scalar head) of a causal *ForSequenceClassification model (peft or not)."""
    inner = _unpeft(seqcls_model)
    backbone = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    head = getattr(inner, "score", None)
    if backbone is None or head is None:
        raise ModelError(
            f"{type(inner).__name__} has no causal backbone + 'score' head; a value model needs a "
            "per-token head (GPT-2/Llama-style *ForSequenceClassification)")
    return backbone, head


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding, so a prompt's tokens get the same positions
    whatever the batch it is padded in."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def token_scalars(seqcls_model, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """The scalar head applied at every position (B, T)."""
    backbone, head = backbone_and_head(seqcls_model)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=positions_from_mask(attention_mask), use_cache=False)
    return head(out.last_hidden_state).squeeze(-1).float()


def masked_logits(logits: torch.Tensor, temperature: float, pad_token_id: int) -> torch.Tensor:
    """Logits as the sampler sees them: divided by the temperature (applied to the reference
    too, Huang et al. detail 5) and with the pad token never sampled (pad marks the end)."""
    logits = logits.float() / temperature
    if pad_token_id < logits.size(-1):
        logits[..., pad_token_id] = float("-inf")
    return logits


class PolicyAndValue(nn.Module):
    """One module for ``accelerate.prepare``: DDP must see every trained parameter."""

    def __init__(self, policy: nn.Module, value: nn.Module):
        super().__init__()
        self.policy = policy
        self.value = value

    def forward(self, input_ids, attention_mask, logits_to_keep: int = 0):
        """(logits of the last ``logits_to_keep`` positions (all when 0), values (B, T))."""
        pos = positions_from_mask(attention_mask)
        logits = self.policy(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=pos, use_cache=False,
                             logits_to_keep=logits_to_keep).logits
        values = token_scalars(self.value, input_ids, attention_mask)
        return logits, values


def same_vocabulary(tok_a, tok_b) -> bool:
    return tok_a.get_vocab() == tok_b.get_vocab() and tok_a.pad_token_id == tok_b.pad_token_id


class RewardScorer:
    """Scores (query, response) batches with an RM given as a model or as a python function.

    Three paths: a python ``reward_fn(prompts, completions)``; an RM sharing the policy's
    vocabulary, scored straight from the token ids (TRL's ``get_reward``); an RM with another
    tokenizer, to which the texts are decoded and re-encoded (``prompt + completion``, the RM's
    own post-processor appending EOS as in training).
    """

    def __init__(self, *, policy_tokenizer, model=None, tokenizer=None, fn: RewardFn | None = None,
                 offset: float = 0.0, disable_adapters: bool = False, max_length: int | None = None,
                 pair_format: bool = False):
        if (model is None) == (fn is None):
            raise ModelError("give either a reward model or a reward function, not both/neither")
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

    @torch.no_grad()
    def __call__(self, query: torch.Tensor, response: torch.Tensor, lengths: torch.Tensor,
                 prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        if self.fn is not None:
            scores = torch.as_tensor([float(s) for s in self.fn(prompts, completions)],
                                     dtype=torch.float32)
            return scores.to(query.device)
        if self.shares_tokens:
            return self._score_ids(query, response, lengths)
        return self._score_texts(prompts, completions, query.device)

    def _score_ids(self, query, response, lengths):
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


def value_model_from(reward_model, policy, policy_tokenizer, reward_tokenizer,
                     pair_format: bool = False):
    """A trainable copy of the RM when it can score policy tokens, else the policy's backbone
    with a zero-initialised scalar head (values start at 0)."""
    if reward_model is not None and reward_tokenizer is not None and not pair_format and \
            same_vocabulary(reward_tokenizer, policy_tokenizer):
        try:
            backbone_and_head(reward_model)
            return copy.deepcopy(_unpeft(reward_model))
        except ModelError:
            pass
    from transformers import AutoModelForSequenceClassification

    log.info("value model: initialised from the policy backbone (the RM cannot score policy "
             "tokens per position)")
    config = copy.deepcopy(policy.config)
    config.num_labels = 1
    config.pad_token_id = policy_tokenizer.pad_token_id
    value = AutoModelForSequenceClassification.from_config(config)
    base = getattr(value, value.base_model_prefix)
    base.load_state_dict(getattr(policy, policy.base_model_prefix).state_dict())
    nn.init.zeros_(value.score.weight)
    return value
