"""Likelihood metrics (gptscore, bartscore) against log-probs from a plain transformers forward.

Tiny local Llama: ~5 s in all. The SmolLM2 test (real instruct model, chat template) loads the
135M model: 28 s measured on the 2 shared cores at load 16 (less on an idle machine); it is
skipped where `make models` has not run.
"""
from __future__ import annotations

import numpy as np
import pytest

from rlhf_eval.errors import ConfigError, DataError, ModelError
from rlhf_eval.evaluation.metrics import get_metric
from rlhf_eval.evaluation.metrics.likelihood import LikelihoodMetric

WORDS = ("the cat sat on a mat while the dog ran to the park and a bird sang in the tree "
         "summarize this text please paraphrase")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm, train_bpe_tokenizer

    tok = train_bpe_tokenizer([WORDS] * 20, vocab_size=300, min_frequency=1,
                              model_max_length=256)
    model = build_tiny_causal_lm(tok, TinyModelConfig(arch="llama", n_layer=2, n_embd=64,
                                                      n_head=4, max_positions=256, seed=3))
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def plain_mean_logprob(path: str, prompt: str, target: str) -> float:
    """One unpadded sequence through AutoModelForCausalLM: the independent computation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    p = tok(prompt)["input_ids"]
    if p and p[-1] == tok.eos_token_id:
        p = p[:-1]
    t = tok(target, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + t])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), -1)
    rows = torch.arange(len(p) - 1, len(p) + len(t) - 1)
    return float(logp[rows, ids[0, len(p):]].mean())


PREDS = ["the cat sat on a mat", "a bird sang", "", "the dog ran to the park and the cat sat"]
# sources 0, 2 and 3 are shared: those targets run on one KV cache of the prompt
SOURCES = ["the dog ran to the park while a bird sang in the tree", "the cat sat",
           "the dog ran to the park while a bird sang in the tree",
           "the dog ran to the park while a bird sang in the tree"]
REFS = [["the cat sat on the mat", "a cat sat"], ["the bird sang in a tree"],
        ["a dog"], ["the dog ran to a park", "the cat sat on a mat", "a bird"]]


@pytest.mark.parametrize("share_prefix", [True, False])
def test_gptscore_equals_a_plain_forward(tiny_lm, share_prefix):
    m = get_metric("gptscore", model=tiny_lm, chat="no", batch_size=2, device="cpu",
                   share_prefix=share_prefix)
    got = m.sentence_scores(predictions=PREDS, prompts=SOURCES)["gptscore"]
    tok = m.tokenizer
    want = [plain_mean_logprob(tiny_lm, "Summarize the following text.\n\n" + s + "\n",
                               p + tok.eos_token) for p, s in zip(PREDS, SOURCES)]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.isfinite(got[2])  # an empty prediction scores log p(EOS | prompt)


@pytest.mark.parametrize("multi_ref,share_prefix", [("mean", True), ("max", False)])
def test_bartscore_precision_recall_f_equal_plain_forwards(tiny_lm, multi_ref, share_prefix):
    m = get_metric("bartscore", model=tiny_lm, chat="no", batch_size=4, device="cpu",
                   multi_ref=multi_ref, template="Paraphrase: {text}",
                   share_prefix=share_prefix)
    got = m.sentence_scores(predictions=PREDS, references=REFS)
    eos = m.tokenizer.eos_token
    agg = np.mean if multi_ref == "mean" else np.max
    for i, (p, refs) in enumerate(zip(PREDS, REFS)):
        prec = [plain_mean_logprob(tiny_lm, f"Paraphrase: {r}\n", p + eos) for r in refs]
        rec = [plain_mean_logprob(tiny_lm, f"Paraphrase: {p}\n", r + eos) for r in refs]
        f = [(a + b) / 2 for a, b in zip(prec, rec)]
        np.testing.assert_allclose(got["bartscore_p"][i], agg(prec), atol=1e-5)
        np.testing.assert_allclose(got["bartscore_r"][i], agg(rec), atol=1e-5)
        np.testing.assert_allclose(got["bartscore_f"][i], agg(f), atol=1e-5)


def test_directions_and_signature(tiny_lm):
    p_only = get_metric("bartscore", model=tiny_lm, direction="ref->hyp", device="cpu")
    assert p_only.score_names == ("bartscore_p",) and p_only.higher_is_better == {
        "bartscore_p": True}
    sig = p_only.signature()
    for part in (f"model={tiny_lm}", "direction=ref->hyp", 'template="Paraphrase the following',
                 "chat=no", "multi_ref=mean", "model_hash=sha:"):
        assert part in sig
    g = get_metric("gptscore", model=tiny_lm, device="cpu")
    assert g.needs_prompts and not g.needs_references and g.higher_is_better == {
        "gptscore": True}
    assert get_metric("gptscore", model=tiny_lm, template="TL;DR {text}").signature() != \
        g.signature()


def test_bad_options_and_inputs_fail_clearly(tiny_lm):
    with pytest.raises(ConfigError, match="template must contain"):
        get_metric("gptscore", model=tiny_lm, template="no placeholder")
    with pytest.raises(ConfigError, match="direction"):
        LikelihoodMetric(tiny_lm, direction="hyp->src")
    with pytest.raises(ConfigError, match="gptscore"):
        get_metric("bartscore", model=tiny_lm, direction="src->hyp")
    with pytest.raises(DataError, match="prompts"):
        get_metric("gptscore", model=tiny_lm).sentence_scores(predictions=["a"])
    with pytest.raises(ModelError, match="chat template"):
        get_metric("gptscore", model=tiny_lm, chat="yes").signature()


def test_smollm2_chat_prompt_equals_plain_forward_and_prefers_the_faithful_summary():
    from rlhf_eval import smollm2

    try:
        path = smollm2.smollm2_path()
    except ModelError as exc:
        pytest.skip(f"SmolLM2 not converted ({exc})")
    source = ("The city council voted on Tuesday to build a new public library next to the "
              "central park. Construction starts in May and should take two years.")
    good = "The council approved a new library by the park; building starts in May."
    bad = "A football team won the cup after a penalty shoot-out on Sunday."
    m = get_metric("gptscore", model=path, device="cpu")
    got = m.sentence_scores(predictions=[good, bad], prompts=[source, source])["gptscore"]
    prompt = m.prompt(source)
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    want = [plain_mean_logprob(path, prompt, t + "<|im_end|>") for t in (good, bad)]
    np.testing.assert_allclose(got, want, atol=2e-4)  # batched vs unpadded fp32 forward
    assert got[0] > got[1]
