"""Training learns, is seeded, logs what it promises, handles rankings, LoRA and SFT init."""
import json

import numpy as np
import pytest
import torch

from reward_helpers import write_jsonl
from rlhf_eval.cli import main
from rlhf_eval.schema import Ranking
from rlhf_eval.training.reward import (RewardTrainConfig, _JointView, encode_pairs,
                                       train_reward_model, train_step)
from rlhf_eval.rm.model import build_reward_model
from rlhf_eval.rm.scorer import RewardScorer


def test_training_raises_accuracy_well_above_chance(trained_rm, task):
    path, result = trained_rm
    assert result.final_eval["accuracy"] >= 0.85  # chance is 0.5
    c, r = RewardScorer(str(path)).score_pairs(task["test"])
    # the saved model reproduces the in-training evaluation (up to the normalisation shift)
    assert np.mean(c > r) == pytest.approx(result.final_eval["accuracy"])
    rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["event"] == "train"]
    assert len(train_rows) == result.steps
    assert {"loss", "accuracy", "margin", "reward_mean", "reward_std", "lr",
            "pairs_per_s"} <= set(train_rows[0])
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    assert rows[0]["event"] == "data" and rows[0]["train_truncated"] == 0
    assert [r["event"] for r in rows].count("eval") == 1
    assert json.loads((path / "train_config.json").read_text())["seed"] == 0


def _tiny_run(gpt2_dir, pairs, seed, **kw):
    cfg = RewardTrainConfig(model=gpt2_dir, lr=1e-3, batch_size=8, max_steps=4, seed=seed,
                            progress=False, **kw)
    return [r["loss"] for r in train_reward_model(cfg, pairs).log if r["event"] == "train"]


def test_training_is_seeded(gpt2_dir, task):
    pairs = task["train"][:64]
    a, b = _tiny_run(gpt2_dir, pairs, 1), _tiny_run(gpt2_dir, pairs, 1)
    assert a == b
    assert a != _tiny_run(gpt2_dir, pairs, 2)


def test_eager_and_sdpa_attention_train_the_same_model(gpt2_dir, task):
    """The CPU default (eager attention, faster backward) is a kernel choice, not a model
    change: the loss curves of eager and SDPA agree to float rounding, and the metrics log
    says which kernel ran."""
    pairs = task["train"][:64]
    eager = _tiny_run(gpt2_dir, pairs, 1, attention="eager")
    sdpa = _tiny_run(gpt2_dir, pairs, 1, attention="sdpa")
    np.testing.assert_allclose(eager, sdpa, rtol=1e-4)
    assert eager == _tiny_run(gpt2_dir, pairs, 1)  # auto = eager on CPU
    cfg = RewardTrainConfig(model=gpt2_dir, max_steps=1, progress=False)
    assert train_reward_model(cfg, pairs).log[0]["attention"] == "eager"
    with pytest.raises(Exception, match="attention: expected one of auto, eager, sdpa"):
        RewardTrainConfig(model=gpt2_dir, attention="flash").validate()


def test_gradient_accumulation_matches_one_big_batch(gpt2_dir, task):
    """Two micro-batches of 4 give the gradient of one batch of 8 (dropout off)."""
    loaded = build_reward_model(gpt2_dir, seed=0)
    model, tok = loaded.model.eval(), loaded.tokenizer
    data = encode_pairs(task["train"][:8], tok, fmt="joined", max_length=128)
    view, cfg = _JointView(data), RewardTrainConfig(model=gpt2_dir)
    grads = []
    for micro in ([np.arange(8)], [np.arange(3), np.arange(3, 8)]):
        model.zero_grad()
        row = train_step(model, view, micro, None, pad_id=tok.pad_token_id, device="cpu",
                         cfg=cfg)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        losses = row["loss"]
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), atol=1e-6)
    assert np.isfinite(losses)


def test_rankings_train_over_all_pairs_via_cli(gpt2_dir, task, tmp_path):
    rankings = [Ranking(p.prompt, [p.chosen, " great kind useful", p.rejected, " rude wrong"])
                for p in task["train"][:10] if p.chosen != " great kind useful"]
    data = write_jsonl(tmp_path / "rankings.jsonl", rankings)
    out = tmp_path / "rm"
    assert main(["train-rm", "--data", str(data), "--model", gpt2_dir, "--out", str(out),
                 "--max-steps", "2", "--batch-size", "4", "--no-progress"]) == 0
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert first["train_pairs"] == len(rankings) * 6  # K(K-1)/2 with K = 4


def test_lora_trains_adapters_and_head_and_saves_a_plain_rm(gpt2_dir, task, tmp_path):
    from transformers import AutoModelForSequenceClassification

    cfg = RewardTrainConfig(model=gpt2_dir, lr=5e-3, batch_size=8, max_steps=3, lora_r=4,
                            progress=False)
    loaded = build_reward_model(gpt2_dir, seed=0, lora=__import__(
        "rlhf_eval.models", fromlist=["LoraSettings"]).LoraSettings(r=4))
    trainable = [n for n, p in loaded.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "score" in n for n in trainable)
    assert any("score" in n for n in trainable)
    head_before = loaded.model.base_model.model.score.modules_to_save["default"].weight.clone()
    train_reward_model(cfg, task["train"][:32], out=tmp_path / "rm", loaded=loaded)
    assert not (tmp_path / "rm" / "adapter_config.json").exists()
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    assert not torch.equal(plain.score.weight, head_before)  # the head was trained and saved
    scores = RewardScorer(str(tmp_path / "rm")).score(["Question 1:"], [" kind"])
    assert np.isfinite(scores).all()


def test_init_from_sft_policy_keeps_its_backbone(gpt2_dir):
    from transformers import AutoModelForCausalLM

    policy = AutoModelForCausalLM.from_pretrained(gpt2_dir)
    rm = build_reward_model(gpt2_dir, seed=0).model
    assert torch.equal(rm.transformer.h[0].attn.c_attn.weight,
                       policy.transformer.h[0].attn.c_attn.weight)
    assert rm.config.num_labels == 1 and rm.config.pad_token_id == policy.config.pad_token_id
