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

from torch import nn

from ..errors import ModelError
from ..lm.encode import positions_from_mask
from ..rm.model import _unpeft, backbone_and_head, same_vocabulary, token_scalars

log = logging.getLogger(__name__)

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
