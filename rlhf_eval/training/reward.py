"""Reward-model training with the Bradley-Terry pairwise loss.

    loss = -log sigma(r_chosen - r_rejected - margin)                 (Ouyang et al. 2022, eq. 1;
           + center_coef * mean((r_chosen + r_rejected)^2)             margin: Touvron et al. 2023;
                                                                       centering: Eisenstein et al.
                                                                       2023, as in TRL)

Chosen and rejected sequences of a batch go through the model in one forward pass (one padded
(2B, T) batch), batches are grouped by length (little padding), optionally under bf16 autocast
(about 4x faster matrix products than fp32 on the CPUs this project targets). Rankings are
trained over all their K(K-1)/2 pairs. After training the RM can be shifted so that reference
completions score mean 0; the shift is folded into the saved weights (see
:func:`rlhf_eval.rm.model.fold_offset`).

The loop is split in small pieces: :func:`bradley_terry_loss`, :func:`pair_metrics`,
:func:`train_step`, :func:`evaluate_pairs`, :func:`train_reward_model`.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ..models import (LoraSettings, check_attention, disable_dropout, pick_device,
                      set_training_attention)
from ..runs import MetricsLogger
from ..schema import PreferencePair
from ..rm.data import Encoded, encode, length_grouped_batches, pad_batch, random_batches
from ..rm.model import LoadedRewardModel, build_reward_model, fold_offset, save_reward_model
from ..rm.scorer import forward_rewards, model_max_length, score_encoded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RewardTrainConfig:
    model: str = ""  # backbone id or path: encoder, causal LM, SFT policy folder, or an RM
    max_length: int = 512
    batch_size: int = 8  # pairs per micro-batch (2x sequences per forward pass)
    grad_accum: int = 1
    lr: float = 2e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0
    epochs: float = 1.0
    max_steps: int = 0  # > 0 overrides epochs (optimizer steps)
    seed: int = 0
    center_coef: float = 0.0  # reward centering (Eisenstein et al. 2023); TRL suggests 0.01
    use_margin: bool = True  # use a pair's `margin` field when present
    bf16: bool = False  # autocast matmuls to bf16 (CPU or CUDA); weights stay fp32
    device: str = "auto"
    group_by_length: bool = True
    input_format: str = "auto"  # auto | pair | joined (see reward_model.build_reward_model)
    # dropout off, as TRL's RewardConfig defaults to: chosen and rejected then go through the
    # same function, so the loss sees only their difference, not two dropout masks
    disable_dropout: bool = True
    # attention kernel while training: auto = eager on CPU (SDPA's CPU backward is slow; see
    # rlhf_eval.models.set_training_attention), the model's default elsewhere
    attention: str = "auto"
    lora_r: int = 0  # 0: full fine-tuning
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    eval_every: int = 0  # optimizer steps between evaluations (0: only at the end)
    eval_batch_size: int = 32
    normalize: bool = False  # shift so the reference completions score mean 0
    threads: int = 0  # torch.set_num_threads when > 0
    progress: bool = True

    def validate(self) -> "RewardTrainConfig":
        if not self.model:
            raise ConfigError("model: give a backbone id or path (e.g. rlhf_eval.models."
                              "minilm_path(), an SFT folder, or a HF id)")
        for name in ("max_length", "batch_size", "grad_accum", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected >= 1, found {getattr(self, name)}")
        if self.lr <= 0 or self.epochs <= 0 or self.center_coef < 0 or self.max_steps < 0:
            raise ConfigError("lr and epochs must be > 0, center_coef and max_steps >= 0")
        check_attention(self.attention)
        if self.input_format not in ("auto", "pair", "joined"):
            raise ConfigError(f"input_format: expected auto, pair or joined, found "
                              f"{self.input_format!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio: expected in [0, 1), found {self.warmup_ratio}")
        return self


# ------------------------------------------------------------------------------ loss, metrics


def bradley_terry_loss(r_chosen, r_rejected, margin=None, center_coef: float = 0.0):
    """Mean pairwise loss; ``margin`` (B,) or None; logsigmoid keeps large gaps finite."""
    import torch.nn.functional as F

    delta = r_chosen - r_rejected
    if margin is not None:
        delta = delta - margin
    loss = -F.logsigmoid(delta).mean()
    if center_coef:
        loss = loss + center_coef * ((r_chosen + r_rejected) ** 2).mean()
    return loss


def pair_metrics(r_chosen: np.ndarray, r_rejected: np.ndarray) -> dict[str, float]:
    """Accuracy (a tie counts as wrong), mean margin, reward mean/std over both sides."""
    both = np.concatenate([r_chosen, r_rejected])
    return {"accuracy": float(np.mean(r_chosen > r_rejected)),
            "margin": float(np.mean(r_chosen - r_rejected)),
            "reward_mean": float(both.mean()), "reward_std": float(both.std()),
            "reward_chosen_mean": float(r_chosen.mean()),
            "reward_rejected_mean": float(r_rejected.mean())}


# ------------------------------------------------------------------------------------ data


@dataclass
class PairData:
    """Encoded chosen and rejected sequences of N pairs (+ margins)."""

    chosen: Encoded
    rejected: Encoded
    margin: np.ndarray | None  # (N,) or None when no pair has a margin

    def __len__(self) -> int:
        return len(self.chosen)

    @property
    def n_truncated(self) -> int:
        return int((self.chosen.truncated | self.rejected.truncated).sum())


def encode_pairs(pairs: Sequence[PreferencePair], tokenizer, *, fmt: str, max_length: int,
                 use_margin: bool = True) -> PairData:
    if not pairs:
        raise DataError("no preference pairs to train or evaluate on")
    prompts = [p.prompt for p in pairs]
    chosen = encode(tokenizer, prompts, [p.chosen for p in pairs], fmt=fmt, max_length=max_length)
    rejected = encode(tokenizer, prompts, [p.rejected for p in pairs], fmt=fmt,
                      max_length=max_length)
    margin = None
    if use_margin and any(p.margin is not None for p in pairs):
        margin = np.array([p.margin or 0.0 for p in pairs], dtype=np.float32)
    return PairData(chosen, rejected, margin)


class _JointView:
    """Chosen + rejected encodings as one list without copying per batch."""

    def __init__(self, data: PairData):
        self.n = len(data)
        self.enc = Encoded(data.chosen.input_ids + data.rejected.input_ids,
                           None if data.chosen.token_type_ids is None
                           else data.chosen.token_type_ids + data.rejected.token_type_ids)
        self.pair_lengths = np.maximum(data.chosen.lengths, data.rejected.lengths)

    def batch(self, rows: np.ndarray, pad_id: int):
        return pad_batch(self.enc, [int(i) for i in rows] + [self.n + int(i) for i in rows],
                         pad_id)


# ------------------------------------------------------------------------------- the loop


def _autocast_dtype(cfg: RewardTrainConfig):
    import torch

    return torch.bfloat16 if cfg.bf16 else None


def train_step(model, view: _JointView, micro_batches: list[np.ndarray], margin, *, pad_id,
               device, cfg: RewardTrainConfig) -> dict[str, float]:
    """Forward/backward over the micro-batches of one optimizer step (gradient accumulation);
    returns the step's loss and pair metrics. The optimizer step is the caller's."""
    import torch

    total = sum(len(r) for r in micro_batches)
    loss_sum, chosen, rejected = 0.0, [], []
    for rows in micro_batches:
        batch = {k: v.to(device) for k, v in view.batch(rows, pad_id).items()}
        rewards = forward_rewards(model, batch, autocast_dtype=_autocast_dtype(cfg))  # (2B,)
        r_c, r_r = rewards[:len(rows)], rewards[len(rows):]
        m = None if margin is None else torch.as_tensor(margin[rows], device=device)
        loss = bradley_terry_loss(r_c, r_r, m, cfg.center_coef)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} (rewards "
                                     f"{rewards.detach().cpu().tolist()[:4]}...); lower the "
                                     "learning rate or turn off bf16")
        # weight each micro-batch by its share of the step's pairs (the last one may be short)
        (loss * len(rows) / total).backward()
        loss_sum += loss.item() * len(rows)
        chosen.append(r_c.detach().cpu().numpy())
        rejected.append(r_r.detach().cpu().numpy())
    return {"loss": loss_sum / total, **pair_metrics(np.concatenate(chosen),
                                                      np.concatenate(rejected))}


def evaluate_pairs(model, data: PairData, *, pad_id: int, device, cfg: RewardTrainConfig
                   ) -> dict[str, float]:
    """Loss and pair metrics on held-out pairs (inference mode, length-sorted batches)."""
    import torch

    kw = dict(pad_id=pad_id, batch_size=cfg.eval_batch_size, device=device,
              autocast_dtype=_autocast_dtype(cfg))
    r_c = score_encoded(model, data.chosen, **kw)
    r_r = score_encoded(model, data.rejected, **kw)
    margin = None if data.margin is None else torch.as_tensor(data.margin, dtype=torch.float64)
    loss = bradley_terry_loss(torch.as_tensor(r_c), torch.as_tensor(r_r), margin,
                              cfg.center_coef).item()
    return {"loss": loss, **pair_metrics(r_c, r_r), "n_pairs": len(data),
            "truncated": data.n_truncated}


def _step_batches(view: _JointView, cfg: RewardTrainConfig, rng) -> list[list[np.ndarray]]:
    """One epoch of micro-batches, grouped into optimizer steps of ``grad_accum``."""
    if cfg.group_by_length:
        micro = length_grouped_batches(view.pair_lengths, cfg.batch_size, rng)
    else:
        micro = random_batches(view.n, cfg.batch_size, rng)
    return [micro[i:i + cfg.grad_accum] for i in range(0, len(micro), cfg.grad_accum)]


def _num_steps(n_pairs: int, cfg: RewardTrainConfig) -> int:
    per_epoch = math.ceil(math.ceil(n_pairs / cfg.batch_size) / cfg.grad_accum)
    return cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(per_epoch * cfg.epochs))


@dataclass
class TrainResult:
    out: Path | None
    steps: int
    pairs_seen: int
    train_seconds: float
    final_eval: dict | None
    offset: float
    truncated_train: int
    log: list[dict]
    loop_seconds: float = 0.0  # wall time of the whole training loop (logging, batching included)

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_seen / self.train_seconds if self.train_seconds else float("nan")


def _adamw(params, cfg: RewardTrainConfig):
    """AdamW, fused into one kernel per step where torch supports it (CPU and CUDA since
    torch 2.4): fewer passes over the parameters than the per-tensor loop."""
    import torch

    try:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _set_seed(seed: int) -> None:
    # Dropout masks come from torch's global generator inside nn.Dropout; seeding it here is
    # the only way to make a training run reproducible. Data order uses its own numpy rng.
    import torch

    torch.manual_seed(seed)


def normalization_offset(model, data: PairData, *, pad_id, device, cfg) -> float:
    """Mean reward of the reference completions (both sides of ``data``)."""
    kw = dict(pad_id=pad_id, batch_size=cfg.eval_batch_size, device=device,
              autocast_dtype=_autocast_dtype(cfg))
    both = np.concatenate([score_encoded(model, data.chosen, **kw),
                           score_encoded(model, data.rejected, **kw)])
    return float(both.mean())


def train_reward_model(cfg: RewardTrainConfig, train_pairs: Sequence[PreferencePair], *,
                       eval_pairs: Sequence[PreferencePair] | None = None,
                       out: str | Path | None = None,
                       normalize_pairs: Sequence[PreferencePair] | None = None,
                       loaded: LoadedRewardModel | None = None) -> TrainResult:
    """Train an RM on ``train_pairs``; save it (plus ``metrics.jsonl``, ``train_config.json``)
    to ``out`` when given. ``normalize_pairs``: the reference completions for ``normalize``
    (default: the training pairs). Steps: model -> data -> fit -> normalise and save."""
    cfg.validate()
    loaded, device, attention = _prepare_model(cfg, loaded)
    tok = loaded.tokenizer
    max_length = model_max_length(loaded.model, tok, cfg.max_length)
    enc = dict(fmt=loaded.fmt, max_length=max_length, use_margin=cfg.use_margin)
    train = encode_pairs(train_pairs, tok, **enc)
    evald = encode_pairs(eval_pairs, tok, **enc) if eval_pairs else None
    if train.n_truncated:
        log.warning("%d of %d training pairs had a side longer than %d tokens: cut from the left "
                    "of the prompt", train.n_truncated, len(train), max_length)

    out_dir = Path(out) if out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLogger(out_dir, allow_nan=False)
    metrics.log({"event": "data", "train_pairs": len(train), "train_truncated":
                 train.n_truncated, "eval_pairs": len(evald) if evald else 0,
                 "eval_truncated": evald.n_truncated if evald else 0,
                 "max_length": max_length, "input_format": loaded.fmt,
                 "attention": attention})
    fit = _fit(loaded.model, train, evald, cfg, device, tok.pad_token_id, metrics)

    final_eval = None
    if evald:
        final_eval = evaluate_pairs(loaded.model, evald, pad_id=tok.pad_token_id, device=device,
                                    cfg=cfg)
        metrics.log({"event": "eval", "step": fit.steps, **final_eval})
    ref = encode_pairs(normalize_pairs, tok, **enc) if cfg.normalize and normalize_pairs \
        else train
    offset = _normalize_and_save(loaded, cfg, ref, device, metrics, out_dir, max_length,
                                 fit.steps, len(train))
    metrics.close()
    return TrainResult(out_dir, fit.steps, fit.pairs_seen, fit.train_seconds, final_eval, offset,
                       train.n_truncated, metrics.rows, fit.loop_seconds)


def _prepare_model(cfg: RewardTrainConfig, loaded: LoadedRewardModel | None):
    """Threads, seed, the model (built from ``cfg.model`` unless given) on its device in
    training mode: ``(loaded, device, attention kernel)``."""
    import torch

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    _set_seed(cfg.seed)
    device = pick_device(cfg.device)
    lora = (LoraSettings(r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)
            if cfg.lora_r > 0 else None)
    loaded = loaded or build_reward_model(cfg.model, seed=cfg.seed, lora=lora,
                                          fmt=cfg.input_format)
    if cfg.disable_dropout:
        disable_dropout(loaded.model)
    loaded.model.to(device)
    attention = set_training_attention(loaded.model, device, cfg.attention)
    return loaded, device, attention


@dataclass
class _Fit:
    steps: int
    pairs_seen: int
    train_seconds: float  # forward/backward/optimizer time only
    loop_seconds: float   # the whole loop (batching, logging, evaluations)


def _fit(model, train: PairData, evald: PairData | None, cfg: RewardTrainConfig, device,
         pad_id: int, metrics: MetricsLogger) -> _Fit:
    """The optimisation loop: AdamW + linear warm-up/decay over seeded batches, a train row
    per step and an eval row every ``cfg.eval_every`` steps."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _adamw(params, cfg)
    n_steps = _num_steps(len(train), cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * n_steps),
                                                n_steps)
    view, rng = _JointView(train), np.random.default_rng(cfg.seed)
    model.train()
    step, pairs_seen, train_seconds, epoch = 0, 0, 0.0, 0
    bar = tqdm(total=n_steps, desc="train-rm", unit="step", disable=not cfg.progress)
    loop_start = time.perf_counter()
    try:
        while step < n_steps:
            for micro in _step_batches(view, cfg, rng):
                if step >= n_steps:
                    break
                t0 = time.perf_counter()
                row = train_step(model, view, micro, train.margin, pad_id=pad_id,
                                 device=device, cfg=cfg)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                train_seconds += time.perf_counter() - t0
                step += 1
                pairs_seen += sum(len(r) for r in micro)
                metrics.log({"event": "train", "step": step, "epoch": epoch, **row,
                               "grad_norm": float(grad_norm), "lr": scheduler.get_last_lr()[0],
                               "pairs_per_s": pairs_seen / train_seconds})
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}")
                if evald and cfg.eval_every and step % cfg.eval_every == 0 and step < n_steps:
                    metrics.log({"event": "eval", "step": step, **evaluate_pairs(
                        model, evald, pad_id=pad_id, device=device, cfg=cfg)})
                    model.train()
            epoch += 1
    finally:
        bar.close()
    return _Fit(step, pairs_seen, train_seconds, time.perf_counter() - loop_start)


def _normalize_and_save(loaded: LoadedRewardModel, cfg: RewardTrainConfig, ref: PairData,
                        device, metrics: MetricsLogger, out_dir: Path | None, max_length: int,
                        steps: int, n_train: int) -> float:
    """Shift rewards so ``ref``'s completions average 0 (``cfg.normalize``), merge LoRA
    adapters, fold the offset into the weights, save; returns the offset."""
    model = loaded.model
    offset = 0.0
    if cfg.normalize:
        offset = normalization_offset(model, ref, pad_id=loaded.tokenizer.pad_token_id,
                                      device=device, cfg=cfg)
    if hasattr(model, "merge_and_unload"):
        model = loaded.model = model.merge_and_unload()  # plain weights for every loader
    if offset:
        where = fold_offset(model, offset)
        metrics.log({"event": "normalize", "offset": offset, "folded_into": where})
    model.config.rlhf_eval_train = {"seed": cfg.seed, "steps": steps, "train_pairs": n_train}
    if out_dir:
        from ..io import atomic_write_json, publish_into

        # all or nothing: weights, tokenizer and configs appear together (config.json last,
        # since loaders look for it), so a full disk never leaves a config without weights
        with publish_into(out_dir, last=("config.json",)) as tmp:
            save_reward_model(loaded, tmp, max_length=max_length)
            atomic_write_json(tmp / "train_config.json", asdict(cfg))
    return offset
