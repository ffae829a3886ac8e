"""The score is read at the last non-pad token, whatever the padding; EOS is appended the same
way in training, scoring and a transformers pipeline; batch size does not change scores."""
import json

import numpy as np
import pytest
import torch

from rlhf_eval.rm.model import build_reward_model, fold_offset, save_reward_model
from rlhf_eval.rm.scorer import RewardScorer

PROMPTS = ["Question 1: reply please.", "Question 2:", "", "Question 3: reply please. " * 3]
COMPLETIONS = [" great answer", " the answer is wrong and rude and lazy", " kind", " it"]


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def causal_rm(request, gpt2_dir, llama_dir):
    loaded = build_reward_model(gpt2_dir if request.param == "gpt2" else llama_dir, seed=3)
    loaded.model.eval()
    return loaded


def _single(model, ids):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, 0].item()


def test_eos_appended_and_pad_distinct(causal_rm):
    tok = causal_rm.tokenizer
    assert tok.pad_token_id != tok.eos_token_id
    ids = tok("Question 1: great")["input_ids"]
    assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 1


@pytest.mark.parametrize("side", ["right", "left"])
def test_score_read_at_last_non_pad_token(causal_rm, side):
    model, tok = causal_rm.model, causal_rm.tokenizer
    texts = [p + c for p, c in zip(PROMPTS, COMPLETIONS)]
    tok.padding_side = side
    try:
        batch = tok(texts, padding=True, return_tensors="pt")
    finally:
        tok.padding_side = "right"
    if side == "left":  # positions must start at the first real token, as in generation
        batch["position_ids"] = (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)
    with torch.inference_mode():
        batched = model(**batch).logits[:, 0]
        # independent: the head applied by hand to the hidden state of the last real token
        backbone = model.transformer if hasattr(model, "transformer") else model.model
        hidden = backbone(**batch).last_hidden_state
        mask = batch["attention_mask"]
        last = mask.shape[1] - 1 - mask.flip(1).argmax(1) if side == "right" else \
            torch.full((len(texts),), mask.shape[1] - 1)
        by_hand = model.score(hidden[torch.arange(len(texts)), last])[:, 0]
    singles = [_single(model, tok(t)["input_ids"]) for t in texts]
    np.testing.assert_allclose(batched.numpy(), singles, atol=1e-5)
    np.testing.assert_allclose(by_hand.numpy(), singles, atol=1e-5)
    # the pad really is padding: a row padded with EOS instead would score differently
    ids = tok(texts[1])["input_ids"]
    assert abs(_single(model, ids + [tok.eos_token_id]) - _single(model, ids)) > 1e-6


def test_batch_size_invariance(trained_rm, task):
    path, _ = trained_rm
    pairs = task["test"][:40]
    prompts = [p.prompt for p in pairs] + PROMPTS
    comps = [p.chosen for p in pairs] + COMPLETIONS
    scores = [RewardScorer(str(path), batch_size=b, device="cpu").score(prompts, comps)
              for b in (1, 3, 64)]
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-5)
    np.testing.assert_allclose(scores[0], scores[2], atol=1e-5)
    # and the same order as the input, not the length-sorted order
    single = RewardScorer(str(path), batch_size=1).score(prompts[5:6], comps[5:6])
    assert scores[2][5] == pytest.approx(single[0], abs=1e-5)


def _pipeline_scores(path, prompts, completions, *, pair_format):
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(path), device="cpu")
    inputs = ([{"text": p, "text_pair": c} for p, c in zip(prompts, completions)]
              if pair_format else [p + c for p, c in zip(prompts, completions)])
    return np.array([o["score"] for o in pipe(inputs, function_to_apply="none", batch_size=4)])


def _plain_scores(path, prompts, completions, *, pair_format):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    with torch.inference_mode():
        for p, c in zip(prompts, completions):
            enc = tok(p, c, return_tensors="pt") if pair_format else tok(p + c, return_tensors="pt")
            out.append(model(**enc).logits[0, 0].item())
    return np.array(out)


def _cli_scores(path, prompts, completions, tmp_path):
    from rlhf_eval.cli import main

    data = tmp_path / "samples.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "completion": c, "id": str(i)}) + "\n"
                            for i, (p, c) in enumerate(zip(prompts, completions))))
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--model", str(path), "--data", str(data), "--out", str(out),
                 "--batch-size", "3"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(len(prompts))]
    return np.array([r["reward"] for r in rows])


def test_saved_causal_rm_agrees_with_plain_loaders_and_pipeline(trained_rm, tmp_path):
    path, _ = trained_rm
    cli = _cli_scores(path, PROMPTS, COMPLETIONS, tmp_path)
    np.testing.assert_allclose(_plain_scores(path, PROMPTS, COMPLETIONS, pair_format=False),
                               cli, atol=1e-5)
    np.testing.assert_allclose(_pipeline_scores(path, PROMPTS, COMPLETIONS, pair_format=False),
                               cli, atol=1e-5)


@pytest.fixture(scope="module")
def minilm_rm(tmp_path_factory):
    from rlhf_eval.models import minilm_path

    loaded = build_reward_model(minilm_path(), seed=0)
    assert loaded.fmt == "pair"
    return save_reward_model(loaded, tmp_path_factory.mktemp("minilm_rm")), loaded


def test_saved_encoder_rm_agrees_with_plain_loaders_and_pipeline(minilm_rm, tmp_path):
    path, _ = minilm_rm
    cli = _cli_scores(path, PROMPTS, COMPLETIONS, tmp_path)
    np.testing.assert_allclose(_plain_scores(path, PROMPTS, COMPLETIONS, pair_format=True),
                               cli, atol=1e-5)
    np.testing.assert_allclose(_pipeline_scores(path, PROMPTS, COMPLETIONS, pair_format=True),
                               cli, atol=1e-5)


def test_left_truncation_keeps_completion_and_is_counted(trained_rm):
    path, _ = trained_rm
    scorer = RewardScorer(str(path), max_length=24)
    long_prompt = "Question 5: reply please. " * 20
    got = scorer.score([long_prompt, "Question 1:"], [" great kind", " rude"])
    assert scorer.stats.truncated == 1 and scorer.stats.n == 2
    tok = scorer.tokenizer
    full = tok(long_prompt + " great kind")["input_ids"]
    kept = full[-24:]  # EOS included: the start of the prompt went first
    assert kept[-1] == tok.eos_token_id
    assert got[0] == pytest.approx(_single(scorer.model, kept), abs=1e-5)


def test_pair_format_truncates_prompt_first(minilm_rm):
    path, _ = minilm_rm
    scorer = RewardScorer(str(path), max_length=32)
    enc = scorer.encode(["word " * 100], ["a short kind answer"])
    assert enc.truncated.tolist() == [True] and len(enc.input_ids[0]) == 32
    comp = scorer.tokenizer("a short kind answer", add_special_tokens=False)["input_ids"]
    assert enc.input_ids[0][-len(comp) - 1:-1] == comp


def test_normalisation_offset_is_folded_into_saved_weights(trained_rm, task, tmp_path):
    path, result = trained_rm
    assert result.offset != 0.0
    c, r = RewardScorer(str(path)).score_pairs(task["train"])
    assert np.concatenate([c, r]).mean() == pytest.approx(0.0, abs=1e-3)
    cfg = json.loads((path / "config.json").read_text())
    assert "rlhf_eval_reward_offset" not in cfg  # folded into weights, not only the config


def test_fold_offset_into_encoder_head_bias(minilm_rm):
    _, loaded = minilm_rm
    model = loaded.model.eval()
    enc = loaded.tokenizer(["a"], ["b"], return_tensors="pt")
    with torch.inference_mode():
        before = model(**enc).logits[0, 0].item()
    assert fold_offset(model, 0.75) == "head bias"
    with torch.inference_mode():
        after = model(**enc).logits[0, 0].item()
    fold_offset(model, -0.75)
    assert after == pytest.approx(before - 0.75, abs=1e-6)


def test_pipeline_truncates_like_the_scorer(trained_rm):
    """The saved tokenizer carries the training max_length and left truncation."""
    from transformers import pipeline

    path, _ = trained_rm
    prompts, comps = ["Question 5: reply please. " * 40, "Question 1:"], [" great kind", " rude"]
    scorer = RewardScorer(str(path))
    ours = scorer.score(prompts, comps)
    assert scorer.stats.truncated == 1 and scorer.max_length == 128
    pipe = pipeline("text-classification", model=str(path), device="cpu")
    theirs = [o["score"] for o in pipe([p + c for p, c in zip(prompts, comps)],
                                       function_to_apply="none", truncation=True)]
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_joined_encoder_rm_reads_one_segment_and_loaders_agree(tmp_path):
    """--input-format joined on an encoder: [CLS] prompt + completion [SEP], saved in the config
    so every scorer feeds it the same way; plain loaders fed the joined text agree."""
    from rlhf_eval.errors import ModelError
    from rlhf_eval.models import minilm_path
    from rlhf_eval.rm.model import _check_format

    loaded = build_reward_model(minilm_path(), seed=0, fmt="joined")
    assert loaded.fmt == "joined"
    path = save_reward_model(loaded, tmp_path / "joined_rm")
    scorer = RewardScorer(str(path))
    assert scorer.fmt == "joined"
    enc = scorer.encode(["Question 1:"], [" great kind"])
    tok = scorer.tokenizer
    assert enc.input_ids[0] == tok("Question 1: great kind")["input_ids"]
    assert enc.input_ids[0][0] == tok.cls_token_id and enc.input_ids[0][-1] == tok.sep_token_id
    assert tok.sep_token_id not in enc.input_ids[0][1:-1]  # one segment: no SEP inside
    cli = _cli_scores(path, PROMPTS, COMPLETIONS, tmp_path)
    np.testing.assert_allclose(_plain_scores(path, PROMPTS, COMPLETIONS, pair_format=False),
                               cli, atol=1e-5)
    # training it further (fmt auto) keeps the saved format
    assert build_reward_model(str(path)).fmt == "joined"
    # a causal tokenizer has no second segment to put the completion in
    with pytest.raises(ModelError, match="CLS and SEP"):
        _check_format("pair", "joined", "gpt2-like")
    with pytest.raises(ModelError, match="expected 'auto'"):
        _check_format("concat", "pair", "minilm")
