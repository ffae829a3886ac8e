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
    top_p: float = 1.0                  # sampling only: nucleus mass kept
    top_k: int = 0                      # sampling only: 0 = all tokens
    stop: tuple[str, ...] = ()          # the completion ends before the first of these

    def __post_init__(self):
        object.__setattr__(self, "stop", tuple(self.stop))
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
        import transformers

        return (f"{self.settings_key()}|torch={torch.__version__}|"
                f"transformers={transformers.__version__}")

    def settings_key(self) -> str:
        """The settings part of the signature (the engines add their own versions)."""
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


def masked_logits(logits: torch.Tensor, temperature: float, pad_token_id: int) -> torch.Tensor:
    """Logits as the sampler sees them: divided by the temperature (applied to the reference
    too, Huang et al. detail 5) and with the pad token never sampled (pad marks the end)."""
    logits = logits.float() / temperature
    if pad_token_id < logits.size(-1):
        logits[..., pad_token_id] = float("-inf")
    return logits


def block_early_eos(logits: torch.Tensor, eos_token_id: int, min_new_tokens: int,
                    first: int = 0) -> torch.Tensor:
    """``min_new_tokens`` (as HF ``generate`` has it): EOS cannot be drawn at completion
    positions below ``min_new_tokens``. ``logits`` is (B, V) for position ``first`` or
    (B, T, V) for positions ``first .. first + T - 1``; modified in place and returned. The
    same mask must be applied wherever the sampled tokens' log-probs are computed (PPO), so
    the policy is trained on the distribution it sampled from."""
    if min_new_tokens <= first or eos_token_id >= logits.size(-1):
        return logits
    if logits.dim() == 2:
        logits[:, eos_token_id] = float("-inf")
    else:
        logits[:, :min_new_tokens - first, eos_token_id] = float("-inf")
    return logits


def filter_top(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """(B, V) logits with everything outside the top-k and the nucleus of mass ``top_p`` set to
    -inf (the token that crosses ``top_p`` is kept, as in Holtzman et al. 2020 and vLLM)."""
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


def sample_uniforms(seed: int, sample_id: str, n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1) that depend only on (seed, sample_id)."""
    digest = hashlib.sha256(json.dumps([seed, sample_id]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).random(n)


@torch.no_grad()
def sample(model, query: torch.Tensor, query_mask: torch.Tensor,
           uniforms: torch.Tensor | None = None, *, max_new_tokens: int | None = None,
           temperature: float = 1.0, eos_token_id: int, pad_token_id: int, top_k: int = 0,
           top_p: float = 1.0, min_new_tokens: int = 0) -> torch.Tensor:
    """(B, T) new tokens for left-padded ``query`` (B, Tq), truncated after the first EOS and
    right-padded. With ``uniforms`` (B, T) in [0, 1): inverse-CDF sampling at ``temperature``,
    T = ``uniforms.size(1)``; without: greedy (argmax), T = ``max_new_tokens``. EOS is not
    drawn before ``min_new_tokens`` tokens (:func:`block_early_eos`)."""
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
            lg = block_early_eos(masked_logits(logits, temperature, pad_token_id),
                                 eos_token_id, min_new_tokens, t)
            lg = filter_top(lg, top_k, top_p)
            cdf = torch.softmax(lg, -1).cumsum(-1)
            u = uniforms[:, t:t + 1].to(cdf.device, cdf.dtype) * cdf[:, -1:]
            tok = torch.searchsorted(cdf, u).squeeze(1).clamp(max=cdf.size(-1) - 1)
        else:
            tok = block_early_eos(masked_logits(logits, 1.0, pad_token_id), eos_token_id,
                                  min_new_tokens, t).argmax(-1)
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
    return _decode(tokenizer, _generate(model, tokenizer, prompts, sample_ids, settings, device,
                                        uniforms))


def generate_token_ids(model, tokenizer, prompts: Sequence[str], sample_ids: Sequence[str],
                       settings: GenerationSettings, device) -> list[list[int]]:
    """The new token ids per prompt (EOS and padding removed), in input order."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    new = _generate(model, tokenizer, prompts, sample_ids, settings, device, None)
    return [[t for t in row if t not in (pad, eos)] for row in new.cpu().tolist()]


def _generate(model, tokenizer, prompts, sample_ids, settings, device, uniforms):
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
                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                     top_k=settings.top_k, top_p=settings.top_p)
    return new


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
