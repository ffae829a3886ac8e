"""SFT: completion-only loss, saved folder, CLI, and that it learns the lab task."""
import json
import subprocess
import sys

import pytest
import torch

from rlhf_eval.lab.testing import FAST_SFT
from rlhf_eval.models import train_bpe_tokenizer
from rlhf_eval.training.sft import (IGNORE_INDEX, SFTConfig, collate, completion_loss,
                                    encode_sample)


@pytest.fixture(scope="module")
def tok():
    return train_bpe_tokenizer(["Summarize: Mara owns a cat.\n\nTL;DR: Mara owns a cat."] * 20,
                               vocab_size=300)


def test_encode_masks_the_prompt_and_appends_eos(tok):
    ids, labels = encode_sample(tok, "Summarize: x\n\nTL;DR:", " Mara owns a cat.", 64)
    p = tok("Summarize: x\n\nTL;DR:", add_special_tokens=False)["input_ids"]
    c = tok(" Mara owns a cat.", add_special_tokens=False)["input_ids"]
    assert ids == p + c + [tok.eos_token_id]
    assert labels == [IGNORE_INDEX] * len(p) + c + [tok.eos_token_id]
    assert tok.pad_token_id != tok.eos_token_id


def test_encode_cuts_long_prompts_from_the_left(tok):
    prompt = "Summarize: " + "Mara owns a cat. " * 30 + "\n\nTL;DR:"
    ids, labels = encode_sample(tok, prompt, " Mara owns a cat.", 24)
    assert len(ids) == 24
    tail = tok(prompt, add_special_tokens=False)["input_ids"][-(24 - len(
        tok(" Mara owns a cat.", add_special_tokens=False)["input_ids"]) - 1):]
    assert ids[:len(tail)] == tail  # the separator at the end of the prompt survives
    assert encode_sample(tok, prompt, " Mara owns a cat." * 10, 8) is None


def test_collate_pads_right_and_ignores_padding():
    batch = collate([([5, 6, 7], [-100, 6, 7]), ([8], [8])], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]


def test_completion_loss_equals_transformers_loss_and_a_hand_computation():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_layer=1, n_embd=16, n_head=2))
    batch = collate([([1, 2, 3, 4], [-100, -100, 3, 4]), ([5, 6], [-100, 6])], pad_id=0)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                labels=batch["labels"])
    mine = completion_loss(out.logits, batch["labels"])
    assert mine.item() == pytest.approx(out.loss.item(), rel=1e-5)
    # by hand: positions predicting tokens 3, 4 (row 0) and 6 (row 1)
    logp = torch.log_softmax(out.logits, -1)
    hand = -(logp[0, 1, 3] + logp[0, 2, 4] + logp[1, 0, 6]) / 3
    assert mine.item() == pytest.approx(hand.item(), rel=1e-5)


def test_config_rejects_bad_values():
    from rlhf_eval.errors import ConfigError

    with pytest.raises(ConfigError):
        SFTConfig(tiny="bert")
    with pytest.raises(ConfigError):
        SFTConfig(precision="fp8")
    with pytest.raises(ConfigError):
        SFTConfig(batch_size=0)


def test_policy_folder_loads_with_transformers(tiny_policy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_policy.policy_dir)
    tok = AutoTokenizer.from_pretrained(tiny_policy.policy_dir)
    assert tok.pad_token_id != tok.eos_token_id
    assert model.config.n_embd == FAST_SFT.n_embd
    metrics = [json.loads(l) for l in (tiny_policy.policy_dir / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == FAST_SFT.max_steps
    assert metrics[-1]["loss"] < metrics[0]["loss"] / 2


def test_sft_beats_an_untrained_policy_on_gold_and_rouge(tiny_policy):
    from rlhf_eval.io import read_records
    from rlhf_eval.lab.policy_eval import compare_with_untrained

    prompts = read_records(tiny_policy.lab_dir / "prompts_eval.jsonl", "sample").records
    report = compare_with_untrained(tiny_policy.policy_dir, prompts, num_threads=1)
    sft, base = report["mean"]["sft"], report["mean"]["untrained"]
    assert report["n"] == len(prompts) == 40  # the `test` lab's eval prompts
    assert sft["rougeL"] > base["rougeL"] + 0.3
    assert sft["gold"] > base["gold"] + 0.5
    assert sft["gold_coverage"] > 0.4


def test_helper_reuses_its_build(tiny_policy):
    from rlhf_eval.lab.testing import tiny_sft_policy

    before = (tiny_policy.policy_dir / "model.safetensors").stat().st_mtime_ns
    again = tiny_sft_policy(tiny_policy.policy_dir.parent)
    assert again == tiny_policy
    assert (again.policy_dir / "model.safetensors").stat().st_mtime_ns == before


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rlhf_eval.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_trains_lora_and_saves_a_plain_model(tiny_policy, tmp_path):
    out = tmp_path / "sft"
    res = _cli("sft", "--data", str(tiny_policy.lab_dir / "sft.jsonl"), "--out", str(out),
               "--model", str(tiny_policy.policy_dir), "--lora", "--max-steps", "3",
               "--batch-size", "4", "--no-progress", "--num-threads", "1")
    assert res.returncode == 0, res.stderr
    assert (out / "adapter" / "adapter_config.json").is_file()
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out)  # merged: loads without peft
    info = json.loads((out / "sft.json").read_text())
    assert info["config"]["lora"] is True and info["config"]["max_steps"] == 3


def test_cli_bad_data_exits_2_naming_file_line_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "p"}\n')
    res = _cli("sft", "--data", str(bad), "--out", str(tmp_path / "o"), "--max-steps", "1")
    assert res.returncode == 2
    assert "bad.jsonl:2" in res.stderr and "completion" in res.stderr
    res = _cli("sft", "--data", str(bad), "--out", str(tmp_path / "o"), "--precision", "fp8")
    assert res.returncode == 2


def test_batched_greedy_generation_equals_one_prompt_at_a_time(tiny_policy):
    # left padding must not change what the policy writes (position ids follow the mask)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlhf_eval.io import read_records
    from rlhf_eval.lm.generate import generate_greedy
    from rlhf_eval.training.sft import torch_threads

    model = AutoModelForCausalLM.from_pretrained(tiny_policy.policy_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_policy.policy_dir)
    prompts = [s.prompt for s in read_records(tiny_policy.lab_dir / "prompts_eval.jsonl",
                                              "sample").records[:6]]
    assert len({len(tok(p)["input_ids"]) for p in prompts}) > 1  # padding really happens
    with torch_threads(1):  # a shared CPU: see SFTConfig.num_threads
        batched = generate_greedy(model, tok, prompts, max_new_tokens=24, batch_size=6)
        single = [generate_greedy(model, tok, [p], max_new_tokens=24)[0] for p in prompts]
    assert batched == single


def test_tiny_llama_trains_deterministically_and_round_trips(tmp_path, test_lab):
    from transformers import AutoModelForCausalLM

    from rlhf_eval.training.sft import train_sft

    cfg = SFTConfig(tiny="llama", max_steps=2, batch_size=4, n_embd=32, vocab_size=400,
                    precision="bf16", progress=False, num_threads=1)
    threads = torch.get_num_threads()
    result = train_sft(cfg, test_lab.sft_samples()[:20], tmp_path / "a")
    assert torch.get_num_threads() == threads  # restored after training
    assert result.steps == 2 and result.examples == 20 and result.final_loss > 0
    train_sft(cfg, test_lab.sft_samples()[:20], tmp_path / "b")
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "a")
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "b")
    assert a.config.model_type == "llama" and a.config.hidden_size == 32
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name  # same seed, same weights


def test_empty_or_missing_data_is_a_data_error(tmp_path):
    from rlhf_eval.errors import DataError
    from rlhf_eval.schema import Sample
    from rlhf_eval.training.sft import train_sft

    with pytest.raises(DataError):
        train_sft(SFTConfig(max_steps=1), [], tmp_path / "x")
    with pytest.raises(DataError) as err:
        train_sft(SFTConfig(max_steps=1, progress=False),
                  [Sample("p", "ok"), Sample("p", "  ")], tmp_path / "x")
    assert err.value.location.line == 2 and err.value.location.field == "completion"
    assert not (tmp_path / "x").exists()
