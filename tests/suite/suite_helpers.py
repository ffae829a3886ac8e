"""Helpers of the suite tests: a tiny PPO-like run folder and the settings every test uses.

(A module with a unique name: `from conftest import ...` would pick another area's conftest
in a whole-suite run.) The world, built once per session by the `tiny_world` fixture:

    run/run.json                 policy_init, ref_model, reward_model (like the PPO trainer's)
    run/checkpoint-10/ -20/      the SFT policy with seeded weight noise (full models)
    run/checkpoint-30/           LoRA adapters on the SFT policy (peft folder)
    run/checkpoint-40.tmp/       an incomplete save: must be ignored
    sft/  rm/  prompts.jsonl     tiny GPT-2 policy, a tiny RM, 6 lab eval prompts
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

N_PROMPTS = 6


def _perturb(model, seed: int, scale: float = 0.05):
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return model


def build_world(root: Path) -> dict:
    """Build the tiny world (see the module docstring) under ``root``."""
    import torch
    from transformers import AutoTokenizer

    from rlhf_eval.io import write_records
    from rlhf_eval.lab import generate_lab, lab_config
    from rlhf_eval.models import (LoraSettings, TinyModelConfig, apply_lora,
                                  build_tiny_causal_lm, load_causal_lm, train_bpe_tokenizer)
    from rlhf_eval.rm.model import build_reward_model, save_reward_model

    lab = generate_lab(lab_config("test", seed=0, n_train=60, n_rankings=10))
    prompts = lab.prompts("eval")[:N_PROMPTS]
    write_records(root / "prompts.jsonl", prompts)
    corpus = [s.prompt + s.completion for s in lab.sft_samples()[:120]]
    tok = train_bpe_tokenizer(corpus, vocab_size=500, model_max_length=256)
    sft = root / "sft"
    model = build_tiny_causal_lm(tok, TinyModelConfig(n_layer=2, n_embd=64, n_head=4,
                                                      max_positions=256, seed=0))
    model.save_pretrained(sft)
    tok.save_pretrained(sft)
    rm = build_reward_model(str(sft), seed=1)
    save_reward_model(rm, root / "rm")

    run = root / "run"
    run.mkdir()
    for step, seed in ((10, 1), (20, 2)):
        m = _perturb(load_causal_lm(str(sft)), seed)
        m.save_pretrained(run / f"checkpoint-{step}")
        AutoTokenizer.from_pretrained(sft).save_pretrained(run / f"checkpoint-{step}")
    peft_model = apply_lora(load_causal_lm(str(sft)), LoraSettings(r=4, alpha=8))
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.5)
    peft_model.save_pretrained(run / "checkpoint-30")
    AutoTokenizer.from_pretrained(sft).save_pretrained(run / "checkpoint-30")
    (run / "checkpoint-40.tmp").mkdir()  # an incomplete save in flight
    (run / "run.json").write_text(json.dumps({
        "policy_init": str(sft), "ref_model": str(sft), "reward_model": str(root / "rm"),
        "lora": None, "train_prompts": "<in-memory>", "config": {}, "seed": 0}))
    return {"root": root, "run": run, "sft": str(sft), "rm": str(root / "rm"),
            "prompts": str(root / "prompts.jsonl"), "samples": prompts}


def fresh_run(world, dest: Path) -> Path:
    """A copy of the run folder (each test that writes a store gets its own)."""
    shutil.copytree(world["run"], dest)
    return dest


# Metrics the suite tests use: everything but BERTScore (its MiniLM forward passes cost more
# than the rest together; its agreement with bert_score is the metrics area's test).
METRICS = ["rouge", "bleu", "chrf", "length", "distinct", "repetition", "reward", "kl", "gold"]


def eval_kwargs(world) -> dict:
    """The settings every suite test evaluates with (small, so the session stays fast)."""
    return dict(prompts=world["prompts"], metrics=METRICS, max_new_tokens=8,
                max_prompt_tokens=64, batch_size=3, n_bootstrap=200, progress=False)
