"""Tiny models shared by the PPO tests: a BPE tokenizer, a 2-layer 64-wide GPT-2 policy and a
GPT-2 reward model over the same vocabulary, saved once per session so subprocesses (the CLI,
accelerate) can load them by path."""
from __future__ import annotations

import json
import random

import pytest

WORDS = ("the cat dog sat ran on a mat red blue green big small fast slow tree sun moon "
         "river hill house car bird fish eats sees likes and or not very").split()


def make_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + ":"
            for _ in range(n)]


COLOURS = {"red", "blue", "green"}


def colour_share(prompts, completions):
    """Synthetic reward: 5 x the share of completion words that are colours. The pre-trained
    tiny policy says a colour ~1 word in 10, so PPO has room to raise it in a few updates."""
    out = []
    for c in completions:
        words = c.split()
        out.append(5.0 * sum(w in COLOURS for w in words) / max(len(words), 1))
    return out


def lm_texts(n: int, seed: int) -> list[str]:
    """Prompt + a short continuation of random words: what the tiny policy is pre-trained on."""
    rng = random.Random(seed)
    return [p + " " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
            for p in make_prompts(n, seed)]


def pretrain(policy, tok, steps: int = 60, seed: int = 0):
    """A few LM steps so that the policy writes words and stops with EOS, like an SFT policy
    (a random-init model's embeddings carry no meaning, and LoRA cannot learn through them)."""
    import torch

    texts = [t + tok.eos_token for t in lm_texts(512, seed + 7)]
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    tok.padding_side = "right"
    policy.train()
    for _ in range(steps):
        idx = torch.randint(len(texts), (32,), generator=g).tolist()
        enc = tok([texts[i] for i in idx], padding=True, return_tensors="pt")
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        loss = policy(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    policy.eval()
    return float(loss.detach())


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
