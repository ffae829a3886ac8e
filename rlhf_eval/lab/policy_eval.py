"""Measure a policy on held-out lab prompts: greedy outputs scored by the gold reward and
ROUGE-L, next to the same architecture untrained (the "did SFT learn anything" check)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import DataError
from .evaluate import score_completions


def evaluate_policy(model, tokenizer, prompts: Sequence, *, max_new_tokens: int = 48,
                    batch_size: int = 32):
    """Greedy completions of ``prompts`` (Samples with a reference) scored: one row each
    with ``completion``, the gold columns, ``rougeL`` and ``words``."""
    from ..lm.generate import generate_greedy

    prompts = list(prompts)
    missing = [i for i, s in enumerate(prompts) if not s.references]
    if missing:
        raise DataError("lab eval prompts need a reference", line=missing[0] + 1,
                        field="references")
    texts = [s.prompt for s in prompts]
    completions = generate_greedy(model, tokenizer, texts, max_new_tokens=max_new_tokens,
                                  batch_size=batch_size)
    df = score_completions(prompts=texts, completions=completions,
                           references=[s.references[0] for s in prompts])
    df.insert(0, "completion", completions)
    return df


def untrained_like(model, seed: int = 0):
    """A freshly initialised model with the same config (seeded)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(model.config).to(next(model.parameters()).device)


def compare_with_untrained(policy_dir, prompts: Sequence, *, seed: int = 0,
                           max_new_tokens: int = 48, write: bool = True,
                           num_threads: int | None = None) -> dict:
    """Mean gold aspects / ROUGE-L / words of the policy in ``policy_dir`` and of an untrained
    model of the same shape (random init, ``seed``) on ``prompts``; written to
    ``policy_dir/sft_eval.json``. ``num_threads``: torch threads meanwhile (see SFTConfig)."""
    from ..training.sft import torch_threads

    with torch_threads(num_threads):
        return _compare(policy_dir, prompts, seed, max_new_tokens, write)


def _compare(policy_dir, prompts, seed, max_new_tokens, write) -> dict:
    from transformers import AutoTokenizer

    from ..io import atomic_write_json
    from ..models import load_causal_lm, pick_device

    model = load_causal_lm(str(policy_dir), device=pick_device("auto")).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir))
    trained = evaluate_policy(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    base = evaluate_policy(untrained_like(model, seed).eval(), tokenizer, prompts,
                           max_new_tokens=max_new_tokens)
    cols = ["gold", "gold_coverage", "gold_invented", "gold_brevity", "rougeL", "words"]
    report = {"n": len(trained),
              "mean": {"sft": trained[cols].mean().to_dict(),
                       "untrained": base[cols].mean().to_dict()},
              "examples": [{"prompt_id": s.id, "sft": c, "untrained": u}
                           for s, c, u in zip(list(prompts)[:5], trained.completion,
                                              base.completion)]}
    if write:
        atomic_write_json(Path(policy_dir) / "sft_eval.json", report)
    return report
