"""One sampler: evaluation (``lm.generate.generate_batch``) and the PPO rollout
(``PPOTrainer.rollout``) draw the same tokens from the same seed for the same prompts."""
from __future__ import annotations

import numpy as np
import torch

from ppo_helpers import colour_share, make_prompts
from rlhf_eval.lm.generate import GenerationSettings, generate_batch, sample, sample_uniforms
from rlhf_eval.training.ppo import PPOTrainer
from rlhf_eval.training.ppo_config import PPOConfig


def _trainer(tiny, tmp_path, temperature):
    from transformers import AutoModelForCausalLM

    cfg = PPOConfig(steps=1, batch_size=8, max_new_tokens=12, temperature=temperature,
                    max_prompt_length=48, save_every=100, seed=3)
    return PPOTrainer(cfg, policy=AutoModelForCausalLM.from_pretrained(tiny["policy"]),
                      tokenizer=tiny["tokenizer"], prompts=make_prompts(16),
                      run_dir=tmp_path / "run", reward_fn=colour_share, progress=False)


def test_eval_and_ppo_rollout_draw_the_same_tokens(tiny, tmp_path):
    tok = tiny["tokenizer"]
    trainer = _trainer(tiny, tmp_path, temperature=0.7)
    prompts = trainer._batch_prompts(1)
    ro, _ = trainer.rollout(1, prompts, trainer._step_generator(1))
    ppo_texts = tok.batch_decode(ro.response, skip_special_tokens=True)
    ppo_lengths = [int(n) - int(e) for n, e in zip(ro.lengths, ro.has_eos)]  # EOS not counted

    # the same seed: the uniforms PPO's step generator draws first
    uniforms = torch.rand(len(prompts), 12, generator=trainer._step_generator(1))
    settings = GenerationSettings(max_new_tokens=12, do_sample=True, temperature=0.7,
                                  max_prompt_tokens=48, batch_size=3)
    out = []
    for i in range(0, len(prompts), 3):  # eval batches differently: the tokens must not care
        out += generate_batch(trainer.policy, tok, prompts[i:i + 3], [""] * 3, settings, "cpu",
                              uniforms=uniforms[i:i + 3])
    assert [t for t, _ in out] == ppo_texts
    assert [n for _, n in out] == ppo_lengths
    assert len(set(ppo_texts)) > 1  # really sampled, not one constant completion


def test_eval_sample_ids_seed_the_same_sampler(tiny, tmp_path):
    """Evaluation's own per-sample uniforms fed to the sampler PPO calls give evaluation's
    completions: one code path, whichever way the uniforms were seeded."""
    from rlhf_eval.lm.encode import encode_prompts

    tok = tiny["tokenizer"]
    trainer = _trainer(tiny, tmp_path, temperature=1.0)
    prompts, ids = make_prompts(6), [f"s{i}" for i in range(6)]
    settings = GenerationSettings(max_new_tokens=10, do_sample=True, max_prompt_tokens=48,
                                  seed=11)
    evaluated = generate_batch(trainer.policy, tok, prompts, ids, settings, "cpu")
    q = encode_prompts(tok, prompts, 48)
    u = torch.from_numpy(np.stack([sample_uniforms(11, i, 10) for i in ids]))
    new = sample(trainer.policy, q.input_ids, q.attention_mask, u, temperature=1.0,
                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    assert [t for t, _ in evaluated] == tok.batch_decode(new, skip_special_tokens=True)
