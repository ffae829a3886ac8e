"""The one KV-cached sampler, used by evaluation, PPO rollouts, SFT's greedy check and
``lab-collect``: greedy, or inverse-CDF sampling from uniforms the caller provides.

Every token is drawn from one uniform number that belongs to the *row* and the step (token t of
row b is the first vocabulary entry whose cumulative probability exceeds ``uniforms[b, t]``), so
a completion does not depend on the batch it lands in, how a batch is split across processes,
or which rows an interrupted run already finished. PPO draws the uniforms from its per-step
generator (:meth:`~rlhf_eval.training.ppo.PPOTrainer.rollout`); evaluation from a generator
seeded by ``(seed, sample_id)`` (:func:`sample_uniforms`). Prompts are encoded by
:func:`~rlhf_eval.lm.encode.encode_prompts` (a trailing EOS dropped, cut from the left,
left-padded), with position ids that ignore the padding; generation stops at EOS or after
``max_new_tokens``, and the pad token is never drawn (pad marks the end).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from ..errors import ConfigError
from .encode import encode_prompts, positions_from_mask, prompt_budget, truncate_after_eos


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    max_prompt_tokens: int = 512
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, found {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, found {self.temperature}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, found {self.batch_size}")

    def signature(self) -> str:
        """What changes the completions (the batch size does not, by construction)."""
        import transformers

        d = asdict(self)
        d.pop("batch_size")
        if not self.do_sample:
            d.pop("temperature")
            d.pop("seed")
        body = "|".join(f"{k}={v}" for k, v in sorted(d.items()))
        return (f"{'sample' if self.do_sample else 'greedy'}|{body}|torch={torch.__version__}|"
                f"transformers={transformers.__version__}")


def masked_logits(logits: torch.Tensor, temperature: float, pad_token_id: int) -> torch.Tensor:
    """Logits as the sampler sees them: divided by the temperature (applied to the reference
    too, Huang et al. detail 5) and with the pad token never sampled (pad marks the end)."""
    logits = logits.float() / temperature
    if pad_token_id < logits.size(-1):
        logits[..., pad_token_id] = float("-inf")
    return logits


def sample_uniforms(seed: int, sample_id: str, n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1) that depend only on (seed, sample_id)."""
    digest = hashlib.sha256(json.dumps([seed, sample_id]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).random(n)


@torch.no_grad()
def sample(model, query: torch.Tensor, query_mask: torch.Tensor,
           uniforms: torch.Tensor | None = None, *, max_new_tokens: int | None = None,
           temperature: float = 1.0, eos_token_id: int, pad_token_id: int) -> torch.Tensor:
    """(B, T) new tokens for left-padded ``query`` (B, Tq), truncated after the first EOS and
    right-padded. With ``uniforms`` (B, T) in [0, 1): inverse-CDF sampling at ``temperature``,
    T = ``uniforms.size(1)``; without: greedy (argmax), T = ``max_new_tokens``."""
    if uniforms is None and max_new_tokens is None:
        raise ConfigError("sample() needs uniforms (sampling) or max_new_tokens (greedy)")
    B, T = query.size(0), (uniforms.size(1) if uniforms is not None else max_new_tokens)
    mask = query_mask.clone()
    out = model(input_ids=query, attention_mask=mask, position_ids=positions_from_mask(mask),
                use_cache=True, logits_to_keep=1)  # no LM head over the prompt
    past, logits = out.past_key_values, out.logits[:, -1]
    next_pos = positions_from_mask(mask)[:, -1] + 1
    done = torch.zeros(B, dtype=torch.bool, device=query.device)
    tokens = torch.full((B, T), pad_token_id, dtype=torch.long, device=query.device)
    for t in range(T):
        if uniforms is not None:
            cdf = torch.softmax(masked_logits(logits, temperature, pad_token_id), -1).cumsum(-1)
            u = uniforms[:, t:t + 1].to(cdf.device, cdf.dtype) * cdf[:, -1:]
            tok = torch.searchsorted(cdf, u).squeeze(1).clamp(max=cdf.size(-1) - 1)
        else:
            tok = masked_logits(logits, 1.0, pad_token_id).argmax(-1)
        tok = torch.where(done, torch.full_like(tok, pad_token_id), tok)
        tokens[:, t] = tok
        done |= tok == eos_token_id
        if bool(done.all()) or t == T - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=tok.unsqueeze(1), attention_mask=mask,
                    position_ids=next_pos.unsqueeze(1), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1]
        next_pos = next_pos + 1
    return truncate_after_eos(tokens, eos_token_id, pad_token_id)


def _decode(tokenizer, new: torch.Tensor) -> list[tuple[str, int]]:
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    out = []
    for row in new.cpu().tolist():
        toks = [t for t in row if t not in (pad, eos)]
        out.append((tokenizer.decode(toks, skip_special_tokens=True), len(toks)))
    return out


def generate_batch(model, tokenizer, prompts: Sequence[str], sample_ids: Sequence[str],
                   settings: GenerationSettings, device, *, uniforms: torch.Tensor | None = None
                   ) -> list[tuple[str, int]]:
    """``(completion text, number of new tokens before EOS)`` per prompt, in input order.
    Sampling draws row i's uniforms from ``(settings.seed, sample_ids[i])``, unless explicit
    ``uniforms`` (B, max_new_tokens) are given (e.g. a PPO step's, to replay its samples)."""
    q = encode_prompts(tokenizer, list(prompts),
                       prompt_budget(model, settings.max_prompt_tokens, settings.max_new_tokens))
    if settings.do_sample and uniforms is None:
        uniforms = torch.tensor(np.stack([sample_uniforms(settings.seed, sid,
                                                          settings.max_new_tokens)
                                          for sid in sample_ids]))
    model.eval()
    with torch.inference_mode():
        new = sample(model, q.input_ids.to(device), q.attention_mask.to(device), uniforms,
                     max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return _decode(tokenizer, new)


def generate_greedy(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 48,
                    batch_size: int = 32, max_prompt_tokens: int = 512) -> list[str]:
    """Greedy completions (text after the prompt, up to EOS) for ``prompts``, in batches of
    ``batch_size``; the batches do not change the text (left padding, positions from the mask)."""
    settings = GenerationSettings(max_new_tokens=max_new_tokens,
                                  max_prompt_tokens=max_prompt_tokens, batch_size=batch_size)
    device = next(model.parameters()).device
    out: list[str] = []
    for i in range(0, len(prompts), batch_size):
        chunk = list(prompts[i:i + batch_size])
        out += [t for t, _ in generate_batch(model, tokenizer, chunk, [""] * len(chunk),
                                             settings, device)]
    return out
