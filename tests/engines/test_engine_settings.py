"""Generation settings shared by the engines: top-k/top-p against transformers' own logits
processors, stop strings, signatures."""
from __future__ import annotations

import pytest
import torch

from rlhf_eval.errors import ConfigError
from rlhf_eval.lm.generate import GenerationSettings, filter_top


@pytest.mark.parametrize("top_k,top_p", [(0, 0.9), (5, 1.0), (7, 0.5), (0, 0.05)])
def test_filter_top_matches_transformers(top_k, top_p):
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 50, generator=g) * 3
    want = logits.clone()
    if top_k:
        want = TopKLogitsWarper(top_k)(None, want)
    if top_p < 1:
        want = TopPLogitsWarper(top_p)(None, want)
    got = filter_top(logits, top_k, top_p)
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    assert torch.equal(got[~torch.isinf(got)], logits[~torch.isinf(got)])


def test_signature_names_only_what_changes_the_output():
    greedy = GenerationSettings(max_new_tokens=8, top_p=0.5, top_k=3, seed=4)
    assert greedy.settings_key() == "greedy|do_sample=False|max_new_tokens=8|max_prompt_tokens=512"
    s = GenerationSettings(do_sample=True, top_p=0.9, stop=("\n\n",))
    assert "top_p=0.9" in s.settings_key() and 'stop=["\\n\\n"]' in s.settings_key()
    assert "top_k" not in s.settings_key()
    with pytest.raises(ConfigError, match="top_p"):
        GenerationSettings(top_p=0)
    with pytest.raises(ConfigError, match="stop"):
        GenerationSettings(stop=("",))


def test_hf_stop_strings_cut_the_completion(world):
    from rlhf_eval.lm.engines import ModelRef, get_engine
    from rlhf_eval.models import load_tokenizer

    tok = load_tokenizer(world["sft"], require_pad=True)
    prompts = [s.prompt for s in world["samples"][:6]]
    ids = [str(k) for k in range(6)]
    with get_engine("hf", device="cpu") as eng:
        ref = ModelRef("sft", world["sft"], None, tok)
        full = eng.generate(ref, prompts, ids, GenerationSettings(max_new_tokens=16))
        stop = next(c.text[3:5] for c in full if len(c.text) > 6)
        cut = eng.generate(ref, prompts, ids, GenerationSettings(max_new_tokens=16,
                                                                 stop=(stop,)))
    for f, c in zip(full, cut):
        if stop in f.text:
            assert c.text == f.text[:f.text.index(stop)] and c.finish_reason == "stop"
            assert c.n_tokens <= f.n_tokens and stop in tok.decode(c.token_ids)
        else:
            assert (c.text, c.n_tokens) == (f.text, f.n_tokens)
