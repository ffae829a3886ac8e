"""Reward models: a transformer backbone with a scalar head, saved so that any loader agrees.

A reward model (RM) is stored as a plain Hugging Face sequence-classification model with one
label. ``AutoModelForSequenceClassification.from_pretrained`` and
``pipeline("text-classification", function_to_apply="none")`` therefore give the same scores as
``rlhf-eval score``, provided the text reaches the tokenizer the same way. Two input formats:

- ``pair``   encoder backbones (BERT/MiniLM, a tokenizer with CLS and SEP): the prompt and the
             completion are a text pair, ``[CLS] prompt [SEP] completion [SEP]``; in the pipeline
             pass ``{"text": prompt, "text_pair": completion}``.
- ``joined`` causal backbones (GPT-2, Llama): the text is ``prompt + completion``. EOS is appended
             by the tokenizer's own post-processor, which we install when the RM is built and
             which is saved in ``tokenizer.json``; so training, ``rlhf-eval score``, a pipeline
             and TRL all see the same EOS-terminated sequence. The head reads the last
             non-padding token (transformers finds it from ``config.pad_token_id``), so the pad
             token must differ from EOS: otherwise the real EOS would be taken for padding.

Sequences over the length limit are cut from the left (the start of the prompt goes first,
the completion and its EOS stay), see :mod:`rlhf_eval.rm.data`.

The format is recorded in ``config.json`` under :data:`FORMAT_KEY`.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..models import LoraSettings, apply_lora, ensure_pad_token, is_peft_folder, load_tokenizer

log = logging.getLogger(__name__)

FORMAT_KEY = "rlhf_eval_input_format"
OFFSET_KEY = "rlhf_eval_reward_offset"  # only set when no bias could absorb the offset


def input_format(tokenizer) -> str:
    """``pair`` for BERT-like tokenizers (CLS + SEP), ``joined`` for everything else."""
    if tokenizer.cls_token is not None and tokenizer.sep_token is not None:
        return "pair"
    return "joined"


def install_eos_postprocessor(tokenizer) -> None:
    """Make ``tokenizer(text)`` end with EOS (keeping a leading BOS if it added one).

    Done on the backend (``tokenizers``) post-processor so it is saved in ``tokenizer.json``
    and every loader (pipeline, TRL, plain ``AutoTokenizer``) applies it.
    """
    from tokenizers.processors import TemplateProcessing

    eos = tokenizer.eos_token
    if eos is None:
        raise ModelError("a causal reward-model backbone needs an EOS token to mark the end of "
                         "the completion; the tokenizer has none (set tokenizer.eos_token)")
    probe = tokenizer("a")["input_ids"]
    if probe and probe[-1] == tokenizer.eos_token_id:
        return
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer; cannot "
                         "install an EOS-appending post-processor")
    specials = [(eos, tokenizer.eos_token_id)]
    prefix = ""
    if tokenizer.bos_token is not None and probe and probe[0] == tokenizer.bos_token_id:
        prefix = f"{tokenizer.bos_token} "
        specials.append((tokenizer.bos_token, tokenizer.bos_token_id))
    backend.post_processor = TemplateProcessing(
        single=f"{prefix}$A {eos}", pair=f"{prefix}$A $B {eos}", special_tokens=specials)
    if tokenizer("a")["input_ids"][-1] != tokenizer.eos_token_id:  # pragma: no cover - defensive
        raise ModelError(f"could not make tokenizer {type(tokenizer).__name__} append EOS")


def check_reward_config(config, name: str) -> None:
    """Raise :class:`ModelError` unless ``config`` describes a one-label classification model."""
    archs = getattr(config, "architectures", None) or []
    if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ModelError(f"{name!r} is not a reward model: its architecture is {archs}, expected "
                         "a *ForSequenceClassification model with one label (train one with "
                         "`rlhf-eval train-rm`)")
    if config.num_labels != 1:
        raise ModelError(f"{name!r} is not a reward model: it has {config.num_labels} labels "
                         f"({list(config.id2label.values())}), expected exactly 1 (a scalar "
                         "reward)")


@dataclass
class LoadedRewardModel:
    model: object  # a transformers PreTrainedModel (or a peft wrapper while training)
    tokenizer: object
    fmt: str  # "pair" or "joined"
    offset: float = 0.0  # subtracted after the forward pass (only when no bias could hold it)


def _check_tokenizer(tokenizer, fmt: str, name: str) -> None:
    if tokenizer.pad_token is None:
        raise ModelError(f"the tokenizer of {name!r} has no pad token; batched scoring needs one "
                         "distinct from EOS (tokenizer.add_special_tokens({'pad_token': ...}) "
                         "and resize the embeddings)")
    if fmt == "joined" and tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ModelError(f"the tokenizer of {name!r} uses EOS as its pad token; the reward is read "
                         "at the last non-pad token, so the appended EOS would be skipped. Use a "
                         "distinct pad token")


def load_reward_model(name_or_path: str, *, device=None, dtype=None,
                      trust_remote_code: bool = False) -> LoadedRewardModel:
    """Load a saved one-label RM and its tokenizer for scoring (eval mode)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a model config from {name_or_path!r}: {exc}") from exc
    check_reward_config(config, name_or_path)
    tokenizer = load_tokenizer(name_or_path, trust_remote_code=trust_remote_code)
    fmt = getattr(config, FORMAT_KEY, None) or input_format(tokenizer)
    _check_tokenizer(tokenizer, fmt, name_or_path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name_or_path, dtype=dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a reward model from {name_or_path!r}: {exc}") from exc
    if model.config.pad_token_id is None:
        # transformers needs it to find the last non-pad token of each row
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    if device is not None:
        model.to(device)
    tokenizer.padding_side = "right"
    return LoadedRewardModel(model, tokenizer, fmt, float(getattr(config, OFFSET_KEY, 0.0) or 0.0))


def _materialise_peft_base(name_or_path: str, workdir: str) -> str:
    """An SFT policy saved as LoRA adapters: merge them into a full folder we can load."""
    from ..models import load_causal_lm

    merged = load_causal_lm(name_or_path, merge_adapters=True)
    tok = load_tokenizer(name_or_path)
    out = Path(workdir, "merged-base")
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def build_reward_model(base: str, *, seed: int = 0, lora: LoraSettings | None = None,
                       trust_remote_code: bool = False, fmt: str = "auto") -> LoadedRewardModel:
    """A trainable RM from any backbone: an encoder, a causal LM, an SFT policy folder (full or
    LoRA adapters; InstructGPT initialises the RM from the SFT model, Ouyang et al. 2022 sec. 3.5)
    or an existing RM. The scalar head is freshly initialised from ``seed`` unless ``base``
    already is a one-label RM.

    ``fmt``: how prompt and completion are fed. ``auto`` = :func:`input_format` (a text pair for
    encoders, one text + EOS for causal models); ``joined`` also for an encoder: ``[CLS] prompt
    + completion [SEP]``, one segment, the way TRL feeds encoders and the way sentence encoders
    such as MiniLM were pre-trained (it learnt the lab faster than the text pair did)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    with tempfile.TemporaryDirectory() as tmp:
        source = _materialise_peft_base(base, tmp) if is_peft_folder(base) else base
        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load a model config from {base!r}: {exc}") from exc
        tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
        native = input_format(tokenizer)
        # an RM being trained further keeps the format it was saved with
        fmt = _check_format(getattr(config, FORMAT_KEY, None) if fmt == "auto" else fmt,
                            native, base)
        is_classifier = any(a.endswith("ForSequenceClassification")
                            for a in (getattr(config, "architectures", None) or []))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the new head's initialisation, without global side effects
            try:
                model = AutoModelForSequenceClassification.from_pretrained(
                    source, num_labels=1, trust_remote_code=trust_remote_code,
                    ignore_mismatched_sizes=is_classifier and config.num_labels != 1)
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot build a reward model from {base!r}: {exc}") from exc
    added = ensure_pad_token(tokenizer, model) if fmt == "joined" else False
    if tokenizer.pad_token is None:
        raise ModelError(f"the tokenizer of {base!r} has no pad token")
    if added:
        log.info("added a dedicated pad token %r (distinct from EOS)", tokenizer.pad_token)
    if fmt == "joined" and native == "joined":  # an encoder's own post-processor ends with SEP
        install_eos_postprocessor(tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.id2label, model.config.label2id = {0: "reward"}, {"reward": 0}
    setattr(model.config, FORMAT_KEY, fmt)
    tokenizer.padding_side = "right"
    if lora is not None:
        model = apply_lora(model, lora, task_type="SEQ_CLS")  # peft keeps the head trainable
    return LoadedRewardModel(model, tokenizer, fmt)


def _check_format(fmt: str | None, native: str, base: str) -> str:
    if fmt in (None, "auto"):
        return native
    if fmt not in ("pair", "joined"):
        raise ModelError(f"input format: expected 'auto', 'pair' or 'joined', found {fmt!r}")
    if fmt == "pair" and native != "pair":
        raise ModelError(f"input format 'pair' needs a tokenizer with CLS and SEP tokens; the "
                         f"tokenizer of {base!r} has none (use 'joined')")
    return fmt


def head_module(model):
    """The final scalar projection: ``score`` (GPT-2/Llama) or ``classifier`` (BERT)."""
    for name in ("score", "classifier"):
        module = getattr(model, name, None)
        if module is not None and hasattr(module, "weight"):
            return module
    raise ModelError(f"cannot find the reward head of {type(model).__name__}")


def fold_offset(model, offset: float) -> str:
    """Make the saved model output ``r - offset`` for every loader; returns where it went.

    Preferably the head's bias (BERT's classifier). GPT-2's head has no bias, but the final
    LayerNorm's bias feeds only the head in a sequence-classification model, and
    ``w . (beta + delta)`` shifts every reward by ``w . delta``: choose ``delta`` along ``w``.
    Without either (Llama's RMSNorm has no bias) the offset goes into ``config.json``
    (:data:`OFFSET_KEY`), which only rlhf-eval's loader applies; we warn.
    """
    import torch

    head = head_module(model)
    with torch.no_grad():
        if getattr(head, "bias", None) is not None:
            head.bias -= offset
            return "head bias"
        final_norm = getattr(getattr(model, "transformer", None), "ln_f", None)
        if final_norm is not None and getattr(final_norm, "bias", None) is not None:
            w = head.weight[0].to(final_norm.bias.dtype)
            final_norm.bias -= offset * w / (w @ w)
            return "final layer-norm bias"
    setattr(model.config, OFFSET_KEY, float(getattr(model.config, OFFSET_KEY, 0.0) or 0.0)
            + offset)
    log.warning("the reward head has no bias to absorb the normalisation offset %.4f; it is "
                "stored in config.json as %s and only rlhf-eval's loader applies it", offset,
                OFFSET_KEY)
    return "config"


def save_reward_model(loaded: LoadedRewardModel, out: str | Path, *,
                      max_length: int | None = None) -> Path:
    """Save a plain one-label RM (LoRA adapters merged) plus tokenizer; returns the folder.

    With ``max_length`` the tokenizer is saved with ``model_max_length=max_length`` and
    ``truncation_side="left"``, so ``pipeline(..., truncation=True)`` cuts over-long causal
    inputs exactly as ``rlhf-eval score`` does (the start of the prompt goes first).
    """
    tok = loaded.tokenizer
    if max_length:
        tok.model_max_length = tok.init_kwargs["model_max_length"] = max_length
        tok.truncation_side = tok.init_kwargs["truncation_side"] = "left"
    model = loaded.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()  # a plain folder every loader can read
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out


# ------------------------------------------------- per-token scalars (PPO value, RM on ids)


def _unpeft(model):
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def backbone_and_head(seqcls_model):
    """(backbone, scalar head) of a causal *ForSequenceClassification model (peft or not)."""
    inner = _unpeft(seqcls_model)
    backbone = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    head = getattr(inner, "score", None)
    if backbone is None or head is None:
        raise ModelError(
            f"{type(inner).__name__} has no causal backbone + 'score' head; a value model needs a "
            "per-token head (GPT-2/Llama-style *ForSequenceClassification)")
    return backbone, head


def token_scalars(seqcls_model, input_ids, attention_mask):
    """The scalar head applied at every position (B, T)."""
    from ..lm.encode import positions_from_mask

    backbone, head = backbone_and_head(seqcls_model)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=positions_from_mask(attention_mask), use_cache=False)
    return head(out.last_hidden_state).squeeze(-1).float()


def same_vocabulary(tok_a, tok_b) -> bool:
    return tok_a.get_vocab() == tok_b.get_vocab() and tok_a.pad_token_id == tok_b.pad_token_id
