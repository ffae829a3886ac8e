"""Helpers shared by the PPO tests (a module with a unique name: `from conftest import`
would pick whichever area's conftest was imported first in a whole-suite run)."""
from __future__ import annotations

import random

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
