"""The PPO trainer in-process: learning (full and LoRA), sampler invariants, reward paths,
the NaN fault, and the first-epoch ratio (logprobs recomputed consistently)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from ppo_helpers import colour_share, make_prompts
from rlhf_eval.runs import latest_checkpoint
from rlhf_eval.training.ppo import PPOFault, PPOTrainer
from rlhf_eval.training.ppo_config import PPOConfig
from rlhf_eval.rm.scorer import RewardScorer
from rlhf_eval.lm.encode import encode_prompts
from rlhf_eval.lm.generate import sample


def _policy(tiny):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny["policy"])


def _rm(tiny):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny["rm"])


def _train(tiny, tmp_path, **overrides):
    cfg = PPOConfig(**{"steps": 8, "batch_size": 16, "max_new_tokens": 16, "learning_rate": 3e-3,
                       "temperature": 1.0, "save_every": 100, "missing_eos_penalty": None,
                       "kl_coef": 0.01, **overrides})
    trainer = PPOTrainer(cfg, policy=_policy(tiny), tokenizer=tiny["tokenizer"],
                         prompts=make_prompts(64), run_dir=tmp_path / "run", reward_fn=colour_share,
                         progress=False)
    return trainer, trainer.train()


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_ppo_raises_a_synthetic_reward_in_full_and_lora_mode(tiny, tmp_path, lora):
    trainer, hist = _train(tiny, tmp_path, lora=lora, steps=10, learning_rate=3e-3)
    scores = [r["objective/scores"] for r in hist]
    first, last = np.mean(scores[:2]), np.mean(scores[-2:])
    assert last > first + 0.2, scores  # the initial policy scores ~0.1
    assert all(math.isfinite(r["objective/kl"]) for r in hist)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    if lora:
        assert trainer.ref is None  # the reference is the policy with adapters disabled
        assert all("lora_" in n or "modules_to_save" in n for n in trainable), trainable[:5]
    else:
        assert any("wte" in n for n in trainable)


def test_first_epoch_ratio_is_one_when_nothing_is_learned(tiny, tmp_path):
    """Rollout logprobs and update logprobs come from the same function: with lr = 0 every
    ratio is exactly 1, nothing is clipped, and the policy is unchanged (KL to ref 0)."""
    _, hist = _train(tiny, tmp_path, steps=1, learning_rate=0.0, kl_estimator="k3")
    row = hist[0]
    assert row["val/ratio"] == pytest.approx(1.0, abs=1e-6)
    assert row["policy/approxkl"] == pytest.approx(0.0, abs=1e-10)
    assert row["policy/clipfrac"] == 0.0
    assert row["objective/kl"] == pytest.approx(0.0, abs=1e-6)
    assert row["objective/rlhf_reward"] == pytest.approx(row["objective/scores"])


def test_sampler_is_invariant_to_how_the_batch_is_split(tiny):
    tok, policy = tiny["tokenizer"], _policy(tiny)
    enc = encode_prompts(tok, make_prompts(6, seed=3), 64)
    u = torch.rand(6, 12, generator=torch.Generator().manual_seed(0))
    kw = dict(temperature=0.8, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    whole = sample(policy, enc.input_ids, enc.attention_mask, u, **kw)
    parts = torch.cat([sample(policy, enc.input_ids[i:i + 2], enc.attention_mask[i:i + 2],
                              u[i:i + 2], **kw) for i in (0, 2, 4)])
    assert torch.equal(whole, parts)
    assert not (whole == tok.pad_token_id).all(1).any()  # pad is never sampled first


def test_inverse_cdf_sampling_follows_the_softmax(tiny):
    """First-token frequencies over 4000 uniforms match softmax(logits / T) (chi-square)."""
    from scipy.stats import chisquare

    tok, policy = tiny["tokenizer"], _policy(tiny)
    enc = encode_prompts(tok, ["the cat sat:"], 64)
    n, T = 4000, 0.7
    u = torch.rand(n, 1, generator=torch.Generator().manual_seed(1))
    first = sample(policy, enc.input_ids.expand(n, -1), enc.attention_mask.expand(n, -1), u,
                   temperature=T, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        logits = policy(enc.input_ids).logits[0, -1] / T
    logits[tok.pad_token_id] = -float("inf")
    probs = torch.softmax(logits, -1).double().numpy()
    counts = np.bincount(first[:, 0].numpy(), minlength=probs.size)
    top = np.argsort(probs)[::-1][:20]  # the 20 likeliest tokens + the rest in one bin
    obs = np.append(counts[top], counts.sum() - counts[top].sum())
    exp = np.append(probs[top], 1 - probs[top].sum()) * n
    assert chisquare(obs, exp).pvalue > 1e-3


def test_encode_prompts_truncates_from_the_left_and_counts(tiny):
    tok = tiny["tokenizer"]
    long_prompt = " ".join(["cat dog"] * 50) + " the end:"
    enc = encode_prompts(tok, [long_prompt, "a cat:"], max_prompt_length=10)
    assert enc.truncated == 1
    full = tok(long_prompt)["input_ids"]
    assert enc.input_ids[0].tolist() == full[-10:]  # the end of the prompt is kept
    assert enc.attention_mask[1].sum() == len(tok("a cat:")["input_ids"])
    assert enc.input_ids[1, 0] == tok.pad_token_id  # left padding


def test_reward_from_token_ids_equals_the_rm_on_right_padded_text(tiny):
    """The shared-vocabulary path (left-padded prompt + response ids, head at the last real
    token) gives the scores transformers' own sequence-classification forward gives."""
    tok, rm = tiny["tokenizer"], _rm(tiny)
    rm.eval()
    prompts = make_prompts(3, seed=5)
    enc = encode_prompts(tok, prompts, 64)
    resp = torch.tensor([[5, 6, tok.eos_token_id, tok.pad_token_id],
                         [7, 8, 9, 10], [11, tok.eos_token_id, tok.pad_token_id,
                                         tok.pad_token_id]])
    lengths = torch.tensor([3, 4, 2])
    scorer = RewardScorer(policy_tokenizer=tok, model=rm, tokenizer=tok)
    assert scorer.shares_tokens
    got = scorer(enc.input_ids, resp, lengths, prompts, ["x"] * 3)
    for i in range(3):
        ids = enc.input_ids[i][enc.attention_mask[i].bool()].tolist() + resp[i, :lengths[i]].tolist()
        padded = torch.tensor([ids + [tok.pad_token_id] * 3])
        with torch.no_grad():
            want = rm(input_ids=padded, attention_mask=(padded != tok.pad_token_id).long()).logits
        assert got[i].item() == pytest.approx(want.item(), abs=1e-5)


def test_rm_with_another_tokenizer_is_scored_on_re_encoded_text(tiny):
    from rlhf_eval.models import train_bpe_tokenizer

    tok, rm = tiny["tokenizer"], _rm(tiny)
    other = train_bpe_tokenizer(make_prompts(300, seed=9), vocab_size=280)
    rm.resize_token_embeddings(len(other))
    rm.config.pad_token_id = other.pad_token_id
    rm.eval()
    scorer = RewardScorer(policy_tokenizer=tok, model=rm, tokenizer=other)
    assert not scorer.shares_tokens
    prompts, completions = ["the cat:", "a dog ran:"], [" sat on a mat", " fast"]
    got = scorer(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long),
                 torch.ones(2, dtype=torch.long), prompts, completions)
    for i in range(2):
        enc = other(prompts[i] + completions[i], return_tensors="pt")
        with torch.no_grad():
            assert got[i].item() == pytest.approx(rm(**enc).logits.item(), abs=1e-5)
    other.pad_token = None
    other.pad_token_id  # noqa: B018
    from rlhf_eval.errors import ModelError

    with pytest.raises(ModelError, match="no pad token"):
        RewardScorer(policy_tokenizer=tok, model=rm, tokenizer=other)


def test_nan_reward_stops_naming_step_and_quantity_and_keeps_last_checkpoint(tiny, tmp_path):
    calls = {"n": 0}

    def poisoned(prompts, completions):
        calls["n"] += 1
        scores = colour_share(prompts, completions)
        if calls["n"] == 3:
            scores[4] = float("nan")
        return scores

    cfg = PPOConfig(steps=5, batch_size=8, max_new_tokens=8, save_every=2)
    trainer = PPOTrainer(cfg, policy=_policy(tiny), tokenizer=tiny["tokenizer"],
                         prompts=make_prompts(32), run_dir=tmp_path / "run", reward_fn=poisoned,
                         progress=False)
    with pytest.raises(PPOFault, match=r"step 3: non-finite objective/scores=nan") as info:
        trainer.train()
    assert "checkpoint-2" in str(info.value)
    last = latest_checkpoint(tmp_path / "run")
    assert last.name == "checkpoint-2"
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(last)
    for (n, p), q in zip(reloaded.named_parameters(), trainer.policy.parameters()):
        assert torch.isfinite(p).all(), n


def test_nan_loss_is_caught_before_the_optimizer_step(tiny, tmp_path):
    cfg = PPOConfig(steps=2, batch_size=8, max_new_tokens=8, save_every=1)
    trainer = PPOTrainer(cfg, policy=_policy(tiny), tokenizer=tiny["tokenizer"],
                         prompts=make_prompts(32), run_dir=tmp_path / "run", reward_fn=colour_share,
                         progress=False)
    trainer.train_step(1)
    before = copy.deepcopy(trainer.policy.state_dict())
    with torch.no_grad():  # poison the value head: loss/value becomes nan
        trainer.value.score.weight.fill_(float("nan"))
    with pytest.raises(PPOFault, match=r"step 2: non-finite .*loss/value=nan"):
        trainer.train_step(2)
    for k, v in trainer.policy.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_lora_resume_in_process_equals_the_uninterrupted_run(tiny, tmp_path):
    """Adapters (and the value model's adapters + head) round-trip through a checkpoint."""
    def run(run_dir, steps, resume=False):
        cfg = PPOConfig(steps=3, batch_size=8, max_new_tokens=8, save_every=1, lora=True,
                        learning_rate=1e-2)
        trainer = PPOTrainer(cfg, policy=_policy(tiny), tokenizer=tiny["tokenizer"],
                             prompts=make_prompts(32), run_dir=run_dir, reward_fn=colour_share,
                             progress=False, resume=resume)
        while trainer.step < steps:
            trainer.step += 1
            trainer.history.append(trainer.train_step(trainer.step))
            trainer.save_checkpoint()
        return [{k: v for k, v in r.items() if k != "eps"} for r in trainer.history]

    full = run(tmp_path / "a", 3)
    run(tmp_path / "b", 2)
    resumed = run(tmp_path / "b", 3, resume=True)
    for a, b in zip(resumed, full):
        assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert len(resumed) == len(full)
    from peft import AutoPeftModelForCausalLM

    assert (tmp_path / "b" / "checkpoint-3" / "adapter_config.json").is_file()
    AutoPeftModelForCausalLM.from_pretrained(tmp_path / "b" / "checkpoint-3")


def test_resume_refuses_a_changed_config_but_may_run_longer(tiny, tmp_path):
    """--resume with another learning rate would splice two different runs: refused, naming
    the field; more steps (extending a finished run) is allowed and equals a run that was
    given 3 steps from the start. A field missing from an older checkpoint counts as its
    default."""
    import json

    from rlhf_eval.errors import RlhfEvalError

    def trainer(run, resume=False, **kw):
        cfg = PPOConfig(**{"steps": 2, "batch_size": 8, "max_new_tokens": 8, "save_every": 1,
                           "learning_rate": 1e-3, "lr_schedule": "constant", **kw})
        return PPOTrainer(cfg, policy=_policy(tiny), tokenizer=tiny["tokenizer"],
                          prompts=make_prompts(32), run_dir=tmp_path / run,
                          reward_fn=colour_share, progress=False, resume=resume)

    def metrics(hist):
        return [{k: v for k, v in r.items() if k != "eps"} for r in hist]

    trainer("run").train()
    with pytest.raises(RlhfEvalError, match=r"learning_rate: 0\.001 in the checkpoint, 0\.002 now"):
        trainer("run", resume=True, learning_rate=2e-3)
    saved = tmp_path / "run" / "checkpoint-2" / "ppo_config.json"
    old = json.loads(saved.read_text())
    del old["whiten_rewards"]  # as if written before that field existed (default False)
    saved.write_text(json.dumps(old))
    longer = trainer("run", resume=True, steps=3)
    assert longer.step == 2
    extended = longer.train()
    straight = trainer("straight", steps=3).train()
    assert metrics(extended) == metrics(straight)
    assert latest_checkpoint(tmp_path / "run").name == "checkpoint-3"


@pytest.mark.parametrize("attention", ["auto", "sdpa"])
def test_attention_kernel_is_a_speed_choice_not_a_model_change(tiny, tmp_path, attention):
    """auto = eager attention on CPU for policy, reference and value model; the first step's
    metrics match the SDPA run's to float rounding."""
    trainer, hist = _train(tiny, tmp_path / attention, steps=1, attention=attention)
    want = "eager" if attention == "auto" else "sdpa"
    for m in (trainer.policy, trainer.ref, trainer.value):
        assert m.config._attn_implementation == want
    if attention == "sdpa":
        _, eager = _train(tiny, tmp_path / "eager", steps=1, attention="eager")
        for k in ("objective/scores", "objective/kl", "loss/policy", "loss/value"):
            assert hist[0][k] == pytest.approx(eager[0][k], rel=1e-3, abs=1e-5), k


def test_lora_value_model_is_the_rm_with_adapters_and_the_rm_stays_intact(tiny, tmp_path):
    """LoRA mode keeps one RM base: the value model is the RM plus adapters, and scoring with
    the adapters disabled still gives the untouched RM's scores after training."""
    cfg = PPOConfig(steps=2, batch_size=8, max_new_tokens=8, save_every=100, lora=True,
                    learning_rate=1e-2)
    trainer = PPOTrainer(cfg, policy=_policy(tiny), tokenizer=tiny["tokenizer"],
                         prompts=make_prompts(32), run_dir=tmp_path / "run",
                         reward_model=_rm(tiny), reward_tokenizer=tiny["tokenizer"],
                         progress=False)
    trainer.train()
    assert trainer.scorer.model is trainer.value and trainer.scorer.disable_adapters
    assert trainer.ref is None
    base = sum(p.numel() for n, p in trainer.value.named_parameters() if "lora_" not in n
               and "modules_to_save" not in n)
    assert base == sum(p.numel() for p in _rm(tiny).parameters())  # one copy of the RM
    tok = tiny["tokenizer"]
    enc = encode_prompts(tok, make_prompts(4, seed=8), 64)
    resp = torch.tensor([[5, 6, tok.eos_token_id]] * 4)
    got = trainer.scorer(enc.input_ids, resp, torch.tensor([3] * 4), [""] * 4, [""] * 4)
    want = RewardScorer(policy_tokenizer=tok, model=_rm(tiny).eval(), tokenizer=tok)(
        enc.input_ids, resp, torch.tensor([3] * 4), [""] * 4, [""] * 4)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)  # fused GELU: ~1e-7 apart
    with torch.no_grad():  # while the trained value head differs from the RM head
        assert not torch.equal(trainer.value.base_model.model.score.modules_to_save.default.weight,
                               _rm(tiny).score.weight)


def test_options_bf16_adaptive_k3_whitening_run_and_adapt_beta(tiny, tmp_path):
    _, hist = _train(tiny, tmp_path, steps=2, bf16=True, adaptive_kl=True, target_kl=0.5,
                     kl_horizon=100, kl_estimator="k3", whiten_rewards=True, batch_size=8,
                     num_minibatches=2, gradient_accumulation_steps=2)
    assert all(math.isfinite(v) for r in hist for v in r.values())
    # Ziegler controller: after step 1 (KL 0 < target) beta shrinks by (1 - 0.2 * 8 / 100)
    assert hist[1]["objective/kl_coef"] == pytest.approx(0.01 * (1 - 0.2 * 8 / 100))


def test_a_fresh_run_refuses_a_folder_with_checkpoints(tiny, tmp_path):
    from rlhf_eval.errors import RlhfEvalError

    _train(tiny, tmp_path, steps=1, batch_size=8, max_new_tokens=4, save_every=1)
    with pytest.raises(RlhfEvalError, match="already holds checkpoints.*--resume"):
        _train(tiny, tmp_path, steps=1, batch_size=8, max_new_tokens=4)
