"""Supervised fine-tuning (SFT) of a causal LM on prompt/completion samples.

The loss is the next-token cross-entropy on the completion tokens only: prompt positions get
label -100 (ignored), and every completion is followed by EOS so the policy learns to stop
(Stiennon et al. 2020 / Ouyang et al. 2022 train their SFT baselines the same way). The policy
is either any Hugging Face model (id or local path) or a tiny GPT-2/Llama built here with a
byte-level BPE tokenizer trained on the data, so the whole loop runs offline on a CPU.

The output folder loads with ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained``, and holds ``metrics.jsonl`` (one row per logged step) and
``sft.json`` (config, counts, wall time, versions).
"""
from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


@dataclass(frozen=True)
class SFTConfig:
    model: str | None = None            # HF id or path; None builds a tiny model
    tiny: str = "gpt2"                  # tiny architecture when `model` is None: gpt2 | llama
    vocab_size: int = 1024              # tiny tokenizer size
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    max_length: int = 256               # prompt + completion tokens; longer prompts are cut left
    epochs: float = 8.0                 # 1000 steps on the demo lab (2000 samples, batch 16)
    max_steps: int | None = None        # overrides epochs when set
    batch_size: int = 16
    lr: float = 2e-3                    # for tiny models from scratch; pretrained: ~1e-5..1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    precision: str = "fp32"             # fp32 | bf16 (autocast; about 4x faster matmuls here)
    attention: str = "auto"             # auto: eager on CPU (SDPA's CPU backward is slow), else
                                        # the model's default; or "eager" / "sdpa"
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 0
    device: str = "auto"
    # torch intra-op threads while training (None: leave torch's setting). Tiny models gain
    # little from a second thread, and on a CPU shared with other jobs spinning OpenMP threads
    # made a step about 10x slower than one thread (measured here, load ~15 on 2 cores).
    num_threads: int | None = None
    log_every: int = 10
    progress: bool = True

    def __post_init__(self):
        if self.tiny not in ("gpt2", "llama"):
            raise ConfigError(f"tiny: expected 'gpt2' or 'llama', found {self.tiny!r}")
        from ..models import check_attention

        check_attention(self.attention)
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision: expected 'fp32' or 'bf16', found {self.precision!r}")
        for name in ("batch_size", "max_length", "vocab_size", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected a positive integer, found "
                                  f"{getattr(self, name)}")
        if not self.lr > 0 or self.epochs <= 0:
            raise ConfigError(f"lr and epochs must be positive, found {self.lr}, {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps: expected a positive integer, found {self.max_steps}")


@dataclass(frozen=True)
class SFTResult:
    out_dir: str
    steps: int
    examples: int
    final_loss: float
    wall_s: float


# ------------------------------------------------------------------------------------- data


def encode_sample(tokenizer, prompt: str, completion: str, max_length: int):
    """``(input_ids, labels)`` for one sample: prompt tokens masked with -100, completion
    tokens then EOS as labels. Prompt and completion are tokenised separately, exactly as the
    policy sees them at generation time (the prompt alone, then its own tokens). A prompt too
    long for ``max_length`` is cut from the left (its end, the instruction separator, stays);
    returns None when even the completion does not fit."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(c) >= max_length:
        return None
    p = p[max(0, len(p) + len(c) - max_length):]
    return p + c, [IGNORE_INDEX] * len(p) + c


def collate(batch, pad_id: int):
    """Right-pad a list of ``(input_ids, labels)``: ``input_ids`` (B, T), ``attention_mask``
    (B, T), ``labels`` (B, T) with -100 on padding."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (x, y) in enumerate(batch):
        ids[row, :len(x)] = torch.tensor(x)
        labels[row, :len(y)] = torch.tensor(y)
        mask[row, :len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def completion_loss(logits, labels):
    """Mean next-token cross-entropy over the positions whose label is not -100.
    ``logits`` (B, T, V), ``labels`` (B, T); position t predicts token t + 1."""
    import torch.nn.functional as F

    shift_logits = logits[:, :-1].reshape(-1, logits.size(-1)).float()  # (B*(T-1), V)
    shift_labels = labels[:, 1:].reshape(-1)                             # (B*(T-1),)
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX)


# ----------------------------------------------------------------------------- model set-up


def build_policy(cfg: SFTConfig, corpus: Sequence[str]):
    """``(model, tokenizer)``: loaded from ``cfg.model`` or built tiny (tokenizer trained on
    ``corpus``). The pad token is always distinct from EOS."""
    from ..models import (TinyModelConfig, build_tiny_causal_lm, ensure_pad_token,
                          load_causal_lm, load_tokenizer, train_bpe_tokenizer)

    if cfg.model:
        tokenizer = load_tokenizer(cfg.model)
        model = load_causal_lm(cfg.model)
        if tokenizer.eos_token is None:
            raise ConfigError(f"the tokenizer of {cfg.model!r} has no EOS token; SFT appends "
                              "EOS to every completion so the policy learns to stop")
        ensure_pad_token(tokenizer, model)
    else:
        tokenizer = train_bpe_tokenizer(corpus, vocab_size=cfg.vocab_size,
                                        model_max_length=cfg.max_length)
        model = build_tiny_causal_lm(tokenizer, TinyModelConfig(
            arch=cfg.tiny, n_layer=cfg.n_layer, n_embd=cfg.n_embd, n_head=cfg.n_head,
            max_positions=cfg.max_length, seed=cfg.seed))
    if cfg.lora:
        from ..models import LoraSettings, apply_lora

        model = apply_lora(model, LoraSettings(r=cfg.lora_r, alpha=cfg.lora_alpha))
    return model, tokenizer


# ---------------------------------------------------------------------------------- training


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch intra-op threads (None: unchanged), then restore."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)



def _lr_lambda(warmup: int, total: int):
    # linear warm-up, then cosine decay to 10% of the peak
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def _encode_all(samples, tokenizer, max_length: int):
    encoded, dropped = [], 0
    for i, s in enumerate(samples):
        if not s.completion.strip():
            raise DataError("SFT needs a non-empty completion", line=i + 1, field="completion")
        e = encode_sample(tokenizer, s.prompt, s.completion, max_length)
        if e is None:
            dropped += 1
        else:
            encoded.append(e)
    if dropped:
        log.warning("dropped %d sample(s) whose completion alone exceeds max_length=%d",
                    dropped, max_length)
    if not encoded:
        raise DataError(f"no sample fits in max_length={max_length}", field="completion")
    return encoded


def train_sft(cfg: SFTConfig, samples, out_dir, *, corpus: Sequence[str] = ()) -> SFTResult:
    """Fine-tune on ``samples`` (:class:`~rlhf_eval.schema.Sample`) and save to ``out_dir``.
    ``corpus``: extra texts for the tiny tokenizer (the samples' own texts are always used)."""
    samples = list(samples)
    if not samples:
        raise DataError("no SFT samples", field="completion")
    with torch_threads(cfg.num_threads):
        return _train(cfg, samples, out_dir, corpus)


def _train(cfg: SFTConfig, samples, out_dir, corpus) -> SFTResult:
    import torch

    from ..models import pick_device, set_training_attention

    start = time.perf_counter()
    torch.manual_seed(cfg.seed)  # dropout draws from the global generator
    texts = [s.prompt + s.completion for s in samples] + list(corpus)
    model, tokenizer = build_policy(cfg, texts)
    device = pick_device(cfg.device)
    model.to(device)
    set_training_attention(model, device, cfg.attention)
    encoded = _encode_all(samples, tokenizer, cfg.max_length)

    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.warmup_steps, total))
    gen = torch.Generator().manual_seed(cfg.seed)
    metrics = _train_loop(model, tokenizer, encoded, opt, sched, gen, cfg, total, device)
    wall = time.perf_counter() - start
    _save(model, tokenizer, cfg, out_dir, metrics, len(encoded), wall)
    final = metrics[-1]["loss"] if metrics else float("nan")
    return SFTResult(str(out_dir), total, len(encoded), final, wall)


def _batches(encoded, batch_size: int, gen):
    import torch

    while True:  # endless seeded reshuffles; the caller stops after `total` steps
        order = torch.randperm(len(encoded), generator=gen).tolist()
        for i in range(0, len(order), batch_size):
            yield [encoded[j] for j in order[i:i + batch_size]]


def _train_loop(model, tokenizer, encoded, opt, sched, gen, cfg: SFTConfig, total: int,
                device) -> list[dict]:
    import torch
    from tqdm.auto import tqdm

    model.train()
    metrics, window, tokens, t0 = [], [], 0, time.perf_counter()
    bar = tqdm(total=total, desc="sft", disable=not cfg.progress, leave=False)
    batches = _batches(encoded, cfg.batch_size, gen)
    for step in range(1, total + 1):
        batch = {k: v.to(device) for k, v in collate(next(batches), tokenizer.pad_token_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            logits = model(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).logits
        loss = completion_loss(logits, batch["labels"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        window.append(loss.item())
        tokens += int(batch["attention_mask"].sum())
        if step % cfg.log_every == 0 or step == total:
            elapsed = time.perf_counter() - t0
            row = {"step": step, "loss": sum(window) / len(window),
                   "lr": sched.get_last_lr()[0], "tokens_per_s": tokens / elapsed,
                   "elapsed_s": elapsed}
            metrics.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            window = []
        bar.update(1)
    bar.close()
    model.eval()
    return metrics


def _save(model, tokenizer, cfg: SFTConfig, out_dir, metrics, n_examples: int, wall: float):
    import dataclasses

    import torch
    import transformers

    from ..io import atomic_dir, atomic_write_json
    from ..runs import MetricsLogger

    with atomic_dir(out_dir) as tmp:
        tmp.chmod(0o755)  # a temp dir is private (0700); the model folder is meant to be shared
        if cfg.lora:
            model.save_pretrained(tmp / "adapter")
            model = model.merge_and_unload()  # the folder itself loads without peft
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        MetricsLogger(tmp, metrics).close()
        atomic_write_json(tmp / "sft.json", {
            "config": dataclasses.asdict(cfg), "examples": n_examples, "wall_s": wall,
            "final_loss": metrics[-1]["loss"] if metrics else None,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}})
