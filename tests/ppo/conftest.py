"""Tiny models shared by the PPO tests: a BPE tokenizer, a 2-layer 64-wide GPT-2 policy and a
GPT-2 reward model over the same vocabulary, saved once per session so subprocesses (the CLI,
accelerate) can load them by path."""
from __future__ import annotations

import json

import pytest

from ppo_helpers import COLOURS, WORDS, colour_share, lm_texts, make_prompts, pretrain  # noqa: F401


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification, GPT2Config

    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm, train_bpe_tokenizer

    root = tmp_path_factory.mktemp("ppo_tiny")
    corpus = lm_texts(400, seed=1) + [" ".join(WORDS)] * 5
    tok = train_bpe_tokenizer(corpus, vocab_size=300, model_max_length=128)
    policy = build_tiny_causal_lm(tok, TinyModelConfig(n_layer=2, n_embd=64, n_head=4,
                                                       max_positions=128, seed=0))
    torch.set_num_threads(1)
    pretrain(policy, tok)
    policy.save_pretrained(root / "policy")
    tok.save_pretrained(root / "policy")
    torch.manual_seed(1)
    rm_config = GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=128, num_labels=1,
                           vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                           eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    rm = AutoModelForSequenceClassification.from_config(rm_config)
    rm.save_pretrained(root / "rm")
    tok.save_pretrained(root / "rm")
    prompts_path = root / "prompts.jsonl"
    prompts_path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in make_prompts(64)))
    return {"root": root, "policy": str(root / "policy"), "rm": str(root / "rm"),
            "prompts": str(prompts_path), "tokenizer": tok}


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models gain nothing from a second thread, and on a shared 2-core machine two
    spinning OpenMP threads per process slowed a PPO step ~20x (0.8 s vs 16 s measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
