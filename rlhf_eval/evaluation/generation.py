"""Deterministic batched generation for evaluation.

Greedy by default. With sampling, every token is drawn by inverse-CDF sampling from a uniform
number that belongs to the *sample* (a generator seeded by ``(seed, sample_id)``) and the step,
the same scheme as the PPO sampler (:mod:`rlhf_eval.training.rollout`): a sample's completion
does not depend on the batch it lands in, the batch size, or which samples were already done
by an earlier (interrupted) run. Prompts are encoded like the PPO rollout encodes them (a
trailing EOS dropped, cut from the left), left-padded, with position ids that ignore the
padding; generation stops at EOS or after ``max_new_tokens``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    max_prompt_tokens: int = 512
    batch_size: int = 16
    seed: int = 0
    top_p: float = 1.0                  # sampling only: nucleus mass kept
    top_k: int = 0                      # sampling only: 0 = all tokens
    stop: tuple[str, ...] = ()          # the completion ends before the first of these

    def __post_init__(self):
        object.__setattr__(self, "stop", tuple(self.stop))
        self._check()

    def _check(self):
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], found {self.top_p}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0 (0 = off), found {self.top_k}")
        if any(not isinstance(x, str) or not x for x in self.stop):
            raise ConfigError(f"stop must be non-empty strings, found {self.stop!r}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, found {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, found {self.temperature}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, found {self.batch_size}")

    def signature(self) -> str:
        """What changes the completions (the batch size does not, by construction)."""
        import torch
        import transformers

        return (f"{self.settings_key()}|torch={torch.__version__}|"
                f"transformers={transformers.__version__}")

    def settings_key(self) -> str:
        """The settings part of the signature (engines other than hf add their own versions)."""
        d = asdict(self)
        d.pop("batch_size")
        if not self.do_sample:
            for k in ("temperature", "seed", "top_p", "top_k"):
                d.pop(k)
        else:  # defaults left out: a store written before these settings existed stays valid
            if self.top_p == 1.0:
                d.pop("top_p")
            if self.top_k == 0:
                d.pop("top_k")
        if not self.stop:
            d.pop("stop")
        else:
            d["stop"] = json.dumps(list(self.stop))
        body = "|".join(f"{k}={v}" for k, v in sorted(d.items()))
        return f"{'sample' if self.do_sample else 'greedy'}|{body}"


def sample_uniforms(seed: int, sample_id: str, n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1) that depend only on (seed, sample_id)."""
    digest = hashlib.sha256(json.dumps([seed, sample_id]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).random(n)


def _decode_loop(model, ids, mask, *, settings: GenerationSettings, uniforms, eos_id: int,
                 pad_id: int):
    """(B, T) new tokens, pad after the first EOS."""
    import torch

    from ..training.ops import truncate_after_eos
    from ..training.ppo_models import masked_logits, positions_from_mask

    B, T = ids.size(0), settings.max_new_tokens
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                use_cache=True)
    past, logits = out.past_key_values, out.logits[:, -1]
    next_pos = positions_from_mask(mask)[:, -1] + 1
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    tokens = torch.full((B, T), pad_id, dtype=torch.long, device=ids.device)
    for t in range(T):
        lg = masked_logits(logits, settings.temperature if settings.do_sample else 1.0, pad_id)
        if settings.do_sample:
            lg = filter_top(lg, settings.top_k, settings.top_p)
            cdf = torch.softmax(lg, -1).cumsum(-1)
            u = uniforms[:, t:t + 1].to(cdf.device, cdf.dtype) * cdf[:, -1:]
            tok = torch.searchsorted(cdf, u).squeeze(1).clamp(max=cdf.size(-1) - 1)
        else:
            tok = lg.argmax(-1)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        tokens[:, t] = tok
        done |= tok == eos_id
        if bool(done.all()) or t == T - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=tok.unsqueeze(1), attention_mask=mask,
                    position_ids=next_pos.unsqueeze(1), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1]
        next_pos = next_pos + 1
    return truncate_after_eos(tokens, eos_id, pad_id)


def filter_top(logits, top_k: int, top_p: float):
    """(B, V) logits with everything outside the top-k and the nucleus of mass ``top_p`` set to
    -inf (the token that crosses ``top_p`` is kept, as in Holtzman et al. 2020 and vLLM)."""
    import torch

    if top_k <= 0 and top_p >= 1.0:
        return logits
    out = logits.clone()
    if 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p < 1.0:
        probs, order = torch.softmax(out, -1).sort(-1, descending=True)
        before = probs.cumsum(-1) - probs          # mass of the tokens ranked above
        drop = torch.zeros_like(out, dtype=torch.bool).scatter(-1, order, before >= top_p)
        out = out.masked_fill(drop, float("-inf"))
    return out


def context_limit(model) -> int | None:
    """The model's position limit (GPT-2 ``n_positions``, Llama ``max_position_embeddings``)."""
    for attr in ("n_positions", "max_position_embeddings"):
        value = getattr(getattr(model, "config", None), attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def prompt_budget(model, max_prompt_tokens: int, max_new_tokens: int) -> int:
    """Prompt tokens kept (from the end): ``max_prompt_tokens``, capped so that prompt and
    completion fit the model's positions (past them GPT-2 fails with an index error)."""
    limit = context_limit(model)
    if limit is None:
        return max_prompt_tokens
    if max_new_tokens >= limit:
        raise ConfigError(f"max_new_tokens={max_new_tokens} does not fit the model's "
                          f"{limit} positions")
    return min(max_prompt_tokens, limit - max_new_tokens)


def generate_batch(model, tokenizer, prompts: Sequence[str], sample_ids: Sequence[str],
                   settings: GenerationSettings, device) -> list[tuple[str, int]]:
    """``(completion text, number of new tokens before EOS)`` per prompt, in input order."""
    out = []
    for toks in generate_token_ids(model, tokenizer, prompts, sample_ids, settings, device):
        out.append((tokenizer.decode(toks, skip_special_tokens=True), len(toks)))
    return out


def generate_token_ids(model, tokenizer, prompts: Sequence[str], sample_ids: Sequence[str],
                       settings: GenerationSettings, device) -> list[list[int]]:
    """The new token ids per prompt (EOS and padding removed), in input order."""
    import torch

    from ..training.rollout import encode_prompts

    q = encode_prompts(tokenizer, list(prompts),
                       prompt_budget(model, settings.max_prompt_tokens, settings.max_new_tokens))
    uniforms = torch.tensor(np.stack([sample_uniforms(settings.seed, sid,
                                                      settings.max_new_tokens)
                                      for sid in sample_ids]))
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    model.eval()
    with torch.inference_mode():
        new = _decode_loop(model, q.input_ids.to(device), q.attention_mask.to(device),
                           settings=settings, uniforms=uniforms, eos_id=eos, pad_id=pad)
    return [[t for t in row if t not in (pad, eos)] for row in new.cpu().tolist()]
