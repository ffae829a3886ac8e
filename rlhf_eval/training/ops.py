"""Small pure tensor helpers for RL fine-tuning (PPO), each unit-tested on hand-made tensors.

Conventions: ``mask`` is a bool (or 0/1) tensor of the same shape as the values, True where a
position counts. Shapes are written ``(B, T)``: batch of sequences, response tokens.
The helpers follow the reference implementations in Huang et al. 2024, "The N+ Implementation
Details of RLHF with PPO" (summarize_from_feedback_details) and TRL's PPO trainer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# the sampler's and log-prob helpers live with the LM runtime; PPO code reads them as ops.*
from ..lm.encode import first_true_indices, truncate_after_eos  # noqa: F401
from ..lm.logprobs import INVALID_LOGPROB, entropy_from_logits, logprobs_from_logits  # noqa: F401


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() if dim is None else (x * mask).sum(dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask`` is true (all of them, or along ``dim``)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum()
    return (x * mask).sum(dim) / mask.sum(dim)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of the masked entries of ``x`` (Bessel-corrected when ``unbiased``)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.to(x.dtype).sum()
        if n < 2:
            raise ValueError(f"unbiased variance needs at least 2 unmasked values, found {int(n)}")
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True,
                  eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries; ``shift_mean=False`` keeps the mean (used for
    reward whitening, where shifting the mean would change the incentive to stop early)."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened


def response_lengths(responses: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Number of real tokens of each (truncated, right-padded) response (B,)."""
    return first_true_indices(responses == pad_token_id)


def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token estimator log p - log q of KL(p || q) on samples from p (unbiased, can be < 0)."""
    return logp - ref_logp


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 = (r - 1) - log r with r = q/p: unbiased and never negative
    (http://joschu.net/blog/kl-approx.html)."""
    log_ratio = ref_logp - logp
    return torch.expm1(log_ratio) - log_ratio


KL_ESTIMATORS = {"k1": kl_k1, "k3": kl_k3}


def per_token_rewards(scores: torch.Tensor, kl: torch.Tensor, kl_coef: float,
                      lengths: torch.Tensor, mask: torch.Tensor):
    """Per-token reward -beta * KL_t with the sequence score added at the final real token.

    scores (B,), kl (B, T), lengths (B,) number of real tokens (>= 1), mask (B, T).
    Returns (rewards, non_score_reward), both zero on padding.
    """
    non_score = -kl_coef * kl * mask.to(kl.dtype)
    rewards = non_score.clone()
    last = (lengths - 1).clamp(min=0)
    rewards[torch.arange(rewards.size(0), device=rewards.device), last] += scores.to(rewards.dtype)
    return rewards, non_score


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float):
    """Generalised advantage estimation (Schulman et al. 2016) over (B, T) tensors.

    Positions outside ``mask`` have zero reward and zero value, so the bootstrap value after the
    last real token is 0 (the episode ends there). Returns (advantages, returns) with
    returns = advantages + values, both zero outside the mask.
    """
    m = mask.to(values.dtype)
    rewards, values = rewards * m, values * m
    T = rewards.size(1)
    last = torch.zeros_like(rewards[:, 0])
    out = []
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        out.append(last)
    advantages = torch.stack(out[::-1], dim=1) * m
    return advantages, (advantages + values) * m


def clipped_policy_loss(new_logp: torch.Tensor, old_logp: torch.Tensor,
                        advantages: torch.Tensor, mask: torch.Tensor, cliprange: float):
    """PPO's clipped surrogate (Schulman et al. 2017), as a loss to minimise.

    Returns (loss, stats) with stats: clipfrac (share of tokens where the clip was active),
    approxkl (0.5 * E[(log ratio)^2]), ratio (mean ratio).
    """
    log_ratio = new_logp - old_logp
    ratio = torch.exp(log_ratio)
    losses1 = -advantages * ratio
    losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(losses1, losses2), mask)
    with torch.no_grad():
        stats = {"clipfrac": masked_mean((losses2 > losses1).float(), mask),
                 "approxkl": 0.5 * masked_mean(log_ratio ** 2, mask),
                 "ratio": masked_mean(ratio, mask)}
    return loss, stats


def clipped_value_loss(vpred: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
                       mask: torch.Tensor, cliprange_value: float):
    """0.5 * max((v - R)^2, (clip(v, v_old +- eps) - R)^2), masked mean (Huang et al. detail 9).
    Returns (loss, clipfrac)."""
    # clamp(v, v_old - eps, v_old + eps) rather than v_old + clamp(v - v_old, ...): equal in
    # exact arithmetic, but the latter rounds unclipped values by an ulp, which makes
    # "clipped" (losses2 > losses1) a coin flip for tokens that were not clipped at all
    vclipped = torch.clamp(vpred, old_values - cliprange_value, old_values + cliprange_value)
    losses1 = (vpred - returns) ** 2
    losses2 = (vclipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(losses1, losses2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((losses2 > losses1).float(), mask)
    return loss, clipfrac


@dataclass
class AdaptiveKLController:
    """Ziegler et al. 2019 (sec. 2.2): beta_{t+1} = beta_t (1 + K_beta e_t), with the
    proportional error e_t = clip(KL_t / KL_target - 1, -0.2, 0.2) and K_beta = n / horizon."""

    value: float
    target: float
    horizon: int

    def update(self, current_kl: float, n_steps: int) -> float:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
        return self.value


@dataclass
class FixedKLController:
    value: float

    def update(self, current_kl: float, n_steps: int) -> float:
        return self.value


def is_finite(x: torch.Tensor | float) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all())
    return math.isfinite(x)
