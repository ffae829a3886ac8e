"""Fixtures of the bring-your-own-run tests: a tiny world built once per session.

    world/sft/           tiny GPT-2 policy + BPE tokenizer (the baseline)
    world/rm/            a tiny one-label RM initialised from it (saved by save_reward_model)
    world/prompts.jsonl  4 lab eval prompts with references
    world/run/           run.json (paths relative to the run folder, a run_id) + checkpoint-5/
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

N_PROMPTS = 4


def build_world(root: Path) -> dict:
    import torch

    from rlhf_eval.io import write_records
    from rlhf_eval.lab import generate_lab, lab_config
    from rlhf_eval.models import (TinyModelConfig, build_tiny_causal_lm, load_causal_lm,
                                  train_bpe_tokenizer)
    from rlhf_eval.rm.model import build_reward_model, save_reward_model

    lab = generate_lab(lab_config("test", seed=0, n_train=40, n_rankings=6))
    prompts = lab.prompts("eval")[:N_PROMPTS]
    write_records(root / "prompts.jsonl", prompts)
    corpus = [s.prompt + s.completion for s in lab.sft_samples()[:80]]
    tok = train_bpe_tokenizer(corpus, vocab_size=400, model_max_length=1024)
    sft = root / "sft"
    model = build_tiny_causal_lm(tok, TinyModelConfig(n_layer=1, n_embd=32, n_head=2,
                                                      max_positions=1024, seed=0))
    model.save_pretrained(sft)
    tok.save_pretrained(sft)
    rm = build_reward_model(str(sft), seed=1)
    save_reward_model(rm, root / "rm", max_length=64)
    run = root / "run"
    ck = load_causal_lm(str(sft))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in ck.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    ck.save_pretrained(run / "checkpoint-5")
    tok.save_pretrained(run / "checkpoint-5")
    (run / "run.json").write_text(json.dumps({
        # as the PPO trainer writes it when launched with relative paths: "../sft"
        "name": "run", "run_id": "0123abcd", "policy_init": os.path.relpath(sft, run),
        "ref_model": os.path.relpath(sft, run), "reward_model": os.path.relpath(root / "rm", run),
        "train_prompts": "<in-memory>", "config": {}, "seed": 0}))
    return {"root": root, "run": run, "sft": str(sft), "rm": str(root / "rm"),
            "prompts": str(root / "prompts.jsonl"), "samples": prompts}


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("byo_world"))


@pytest.fixture
def fresh_world(world, tmp_path):
    """A copy of the whole world (a test may move, rename or evaluate it)."""
    dest = tmp_path / "world"
    shutil.copytree(world["root"], dest)
    return {k: (dest / Path(v).relative_to(world["root"]) if isinstance(v, (str, Path))
                and str(v).startswith(str(world["root"])) else v) for k, v in world.items()}
