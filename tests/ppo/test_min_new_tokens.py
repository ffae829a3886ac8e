"""``min_new_tokens``: EOS is neither sampled nor scored before that many tokens, in the one
sampler and in the log-probs PPO trains on (the same constrained distribution)."""
from __future__ import annotations

import pytest
import torch

from ppo_helpers import colour_share, make_prompts
from rlhf_eval.errors import ConfigError
from rlhf_eval.lm.encode import encode_prompts
from rlhf_eval.lm.generate import sample
from rlhf_eval.lm.logprobs import response_logprobs
from rlhf_eval.training.ppo import PPOTrainer
from rlhf_eval.training.ppo_config import PPOConfig


def _eos_loving(tiny):
    """The tiny policy with +50 on its EOS logit (a forward hook): it always stops at once."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny["policy"])
    eos = tiny["tokenizer"].eos_token_id

    def boost(module, inputs, out):
        out = out.clone()
        out[..., eos] += 50.0
        return out

    model.get_output_embeddings().register_forward_hook(boost)
    return model


def test_sampler_draws_no_eos_before_min_new_tokens(tiny):
    tok = tiny["tokenizer"]
    model = _eos_loving(tiny)
    q = encode_prompts(tok, make_prompts(8), 48)
    eos, pad = tok.eos_token_id, tok.pad_token_id
    u = torch.rand(8, 10, generator=torch.Generator().manual_seed(0))
    free = sample(model, q.input_ids, q.attention_mask, u, temperature=1.0,
                  eos_token_id=eos, pad_token_id=pad)
    held = sample(model, q.input_ids, q.attention_mask, u, temperature=1.0,
                  eos_token_id=eos, pad_token_id=pad, min_new_tokens=4)
    greedy = sample(model, q.input_ids, q.attention_mask, max_new_tokens=10,
                    eos_token_id=eos, pad_token_id=pad, min_new_tokens=4)
    assert (free[:, 0] == eos).all()          # unconstrained, it stops at once
    for out in (held, greedy):
        assert not (out[:, :4] == eos).any() and not (out[:, :4] == pad).any()
        assert (out[:, 4] == eos).all()        # and stops as soon as it may
    # without the constraint nothing changes: the default is 0
    assert torch.equal(free, sample(model, q.input_ids, q.attention_mask, u, temperature=1.0,
                                    eos_token_id=eos, pad_token_id=pad, min_new_tokens=0))


def test_logprobs_renormalise_without_eos_before_min_new_tokens():
    torch.manual_seed(0)
    B, T, V, eos, pad = 3, 5, 11, 2, 0
    logits = torch.randn(B, T + 1, V)
    response = torch.randint(3, V, (B, T))
    mask = torch.ones(B, T, dtype=torch.bool)
    got, _ = response_logprobs(logits, response, mask, temperature=0.7, pad_token_id=pad,
                               eos_token_id=eos, min_new_tokens=2)
    for b in range(B):
        for t in range(T):
            lg = logits[b, t] / 0.7
            allowed = [v for v in range(V) if v != pad and (t >= 2 or v != eos)]
            want = lg[response[b, t]] - torch.logsumexp(lg[allowed], 0)
            assert got[b, t].item() == pytest.approx(want.item(), abs=1e-5)


def test_ppo_rollouts_respect_min_new_tokens(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = PPOConfig(steps=1, batch_size=8, max_new_tokens=12, min_new_tokens=5,
                    max_prompt_length=48, save_every=100, seed=3)
    trainer = PPOTrainer(cfg, policy=AutoModelForCausalLM.from_pretrained(tiny["policy"]),
                         tokenizer=tiny["tokenizer"], prompts=make_prompts(16),
                         run_dir=tmp_path / "run", reward_fn=colour_share, progress=False)
    ro, _ = trainer.rollout(1, trainer._batch_prompts(1), trainer._step_generator(1))
    assert (ro.lengths >= 5).all()
    assert not (ro.response[:, :5] == tiny["tokenizer"].eos_token_id).any()
    with pytest.raises(ConfigError, match="min_new_tokens"):
        PPOConfig(max_new_tokens=8, min_new_tokens=8)
