"""Shared fixtures for the reward-model tests: a tiny BPE tokenizer, tiny GPT-2/Llama backbones
saved to folders, a small word-sentiment preference task (a stand-in for the lab), and one tiny
trained RM shared by the whole session (training is the expensive part)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from rlhf_eval.schema import PreferencePair
from reward_helpers import write_jsonl  # noqa: F401  (fixtures below use it)

GOOD = ["great", "helpful", "clear", "correct", "kind", "useful", "precise", "honest"]
BAD = ["rude", "wrong", "vague", "useless", "false", "lazy", "confusing", "harmful"]
NEUTRAL = ["the", "answer", "is", "a", "very", "this", "and", "reply", "text", "it"]


def word_task(n: int, seed: int) -> list[PreferencePair]:
    """Pairs whose gold reward is (#good words - #bad words); chosen has the higher gold."""
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < n:
        sides = []
        for _ in range(2):
            words = list(rng.choice(NEUTRAL, size=rng.integers(2, 6)))
            words += list(rng.choice(GOOD, size=rng.integers(0, 3)))
            words += list(rng.choice(BAD, size=rng.integers(0, 3)))
            rng.shuffle(words)
            text = " " + " ".join(words)
            gold = sum(w in GOOD for w in words) - sum(w in BAD for w in words)
            sides.append((gold, text))
        (ga, a), (gb, b) = sides
        if ga == gb or a == b:
            continue
        chosen, rejected = (a, b) if ga > gb else (b, a)
        pairs.append(PreferencePair(f"Question {len(pairs) % 7}: reply please.", chosen,
                                    rejected, meta={"gold_chosen": max(ga, gb),
                                                    "gold_rejected": min(ga, gb)}))
    return pairs


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    from rlhf_eval.models import train_bpe_tokenizer

    corpus = [" ".join(GOOD + BAD + NEUTRAL) + " Question 0123456789: reply please."] * 20
    tok = train_bpe_tokenizer(corpus, vocab_size=400, min_frequency=1, model_max_length=128)
    path = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(path)
    return path


def _save_tiny(tokenizer_dir, out, arch):
    from transformers import AutoTokenizer

    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_tiny_causal_lm(tok, TinyModelConfig(arch=arch, n_layer=2, n_embd=64,
                                                      n_head=4, max_positions=128))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def gpt2_dir(tokenizer_dir, tmp_path_factory):
    return _save_tiny(tokenizer_dir, tmp_path_factory.mktemp("gpt2"), "gpt2")


@pytest.fixture(scope="session")
def llama_dir(tokenizer_dir, tmp_path_factory):
    return _save_tiny(tokenizer_dir, tmp_path_factory.mktemp("llama"), "llama")


@pytest.fixture(scope="session")
def task():
    return {"train": word_task(256, seed=1), "test": word_task(200, seed=2)}


@pytest.fixture(scope="session")
def trained_rm(gpt2_dir, task, tmp_path_factory):
    """A tiny GPT-2 RM trained on the word task (shared: training is the slow part)."""
    from rlhf_eval.training.reward import RewardTrainConfig, train_reward_model

    out = tmp_path_factory.mktemp("rm")
    cfg = RewardTrainConfig(model=gpt2_dir, lr=3e-3, batch_size=16, epochs=4, seed=0,
                            max_length=128, progress=False, normalize=True)
    result = train_reward_model(cfg, task["train"], eval_pairs=task["test"], out=out)
    return out, result


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """One torch thread while the reward tests run: on a shared, busy 2-core machine OpenMP
    spin-waits made two threads ~10x slower than one (measured). Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
