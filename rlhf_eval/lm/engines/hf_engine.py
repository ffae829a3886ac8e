"""The ``hf`` engine: the project's own sampler (:mod:`rlhf_eval.lm.generate`) on a
transformers model in this process. Deterministic and batch-invariant; the default, and what the
other engines are compared against.

:class:`PolicyLoader` keeps ONE base model per base path: a LoRA checkpoint (a peft folder) is
loaded as an adapter onto the base that is already in memory and made active, so a sweep over
adapter checkpoints loads the base once (``base_loads`` counts it; the suite's KL pass uses the
same loader, so the base is not loaded again for it).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .base import Completion, Engine, EngineError, ModelRef, option_ids, prompt_ids


def _adapter_base(path: str) -> str | None:
    """The base model a peft folder names, else None (a full model)."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise EngineError(f"{cfg}: field 'base_model_name_or_path' is missing")
    return base


def _same_path(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a == b


class PolicyLoader:
    """Load policies with one copy of each base in memory; adapters are swapped in place."""

    def __init__(self, device: str = "auto"):
        self.device = device
        self.base_loads = 0          # full-model loads (from_pretrained of weights)
        self.adapter_loads = 0       # adapters loaded onto a base already in memory
        self._base_path: str | None = None
        self._model = None           # the base, or a PeftModel wrapping it
        self._adapters: dict[str, str] = {}   # adapter folder -> adapter name

    def _load_base(self, path: str):
        from ...models import load_causal_lm, pick_device

        self.close()
        try:
            model = load_causal_lm(path, device=pick_device(self.device))
        except EngineError:
            raise
        except Exception as exc:  # noqa: BLE001  corrupt weights raise library errors
            from ...errors import ModelError

            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"cannot load a causal LM from {path!r}: "
                             f"{type(exc).__name__}: {exc}") from exc
        self.base_loads += 1
        self._base_path, self._model = path, model
        return model

    def load(self, path: str):
        """The policy at ``path`` (a full model or a peft folder), ready for forward passes."""
        base = _adapter_base(path) if Path(path).is_dir() else None
        if base is None:
            if self._model is not None and _same_path(self._base_path, path):
                if self._adapters:          # the base itself: adapters off
                    self._model.base_model.disable_adapter_layers()
                return self._model
            return self._load_base(path)
        if self._model is None or not _same_path(self._base_path, base):
            self._load_base(base)
        return self._activate(path)

    def _activate(self, path: str):
        from peft import PeftModel

        key = str(Path(path).resolve())
        if key not in self._adapters:
            name = f"a{len(self._adapters)}"
            try:
                if not self._adapters:
                    self._model = PeftModel.from_pretrained(self._model, path,
                                                            adapter_name=name)
                else:
                    self._model.load_adapter(path, adapter_name=name)
            except Exception as exc:  # noqa: BLE001  truncated/corrupt adapter files
                from ...errors import ModelError

                self.close()  # a half-injected adapter may be left in the base: reload it
                if isinstance(exc, ModelError):
                    raise
                raise ModelError(f"cannot load LoRA adapters from {path!r}: "
                                 f"{type(exc).__name__}: {exc}") from exc
            self._model.to(next(self._model.parameters()).device)
            self._adapters[key] = name
            self.adapter_loads += 1
        self._model.base_model.enable_adapter_layers()
        self._model.set_adapter(self._adapters[key])
        self._model.eval()
        return self._model

    def close(self) -> None:
        self._model, self._base_path, self._adapters = None, None, {}


class HFEngine(Engine):
    name = "hf"

    def __init__(self, *, device: str = "auto", loader: PolicyLoader | None = None):
        self.device = device
        self.loader = loader or PolicyLoader(device)

    def version(self) -> str:
        import torch
        import transformers

        return f"torch={torch.__version__},transformers={transformers.__version__}"

    def check(self, model: ModelRef) -> None:
        if model.path is None:
            raise EngineError(f"engine 'hf' needs local weights; {model.name!r} names only a "
                              f"served model ({model.served_name!r}): use --engine openai")

    def generate(self, model: ModelRef, prompts: Sequence[str], sample_ids: Sequence[str],
                 settings) -> list[Completion]:
        from ..generate import generate_token_ids
        from ...models import pick_device

        self.check(model)
        lm = self.loader.load(model.path)
        tok = model.tokenizer
        ids = generate_token_ids(lm, tok, prompts, sample_ids, settings,
                                 pick_device(self.device))
        return [finish(tok, row, settings) for row in ids]

    def score_options(self, model: ModelRef, prompts, options):
        import torch

        from ...models import pick_device

        lm = self.loader.load(model.path)
        tok, dev = model.tokenizer, pick_device(self.device)
        out = []
        with torch.inference_mode():
            for prompt, opts in zip(prompts, options):
                p_ids = prompt_ids(tok, prompt)
                row = []
                for opt in opts:
                    x = torch.tensor([p_ids + option_ids(tok, prompt, opt, p_ids)], device=dev)
                    logp = torch.log_softmax(lm(input_ids=x).logits[0, :-1].float(), -1)
                    tgt = x[0, 1:]
                    lp = logp.gather(-1, tgt[:, None])[:, 0][len(p_ids) - 1:]
                    row.append(float(lp.sum()))
                out.append(row)
        return out

    def close(self) -> None:
        self.loader.close()


def finish(tokenizer, token_ids: list[int], settings) -> Completion:
    """A completion from new token ids (EOS removed): cut before the first stop string, with
    ``n_tokens`` the tokens needed to produce the kept text plus the stop string (as vLLM
    counts them)."""
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    reason = "stop" if len(token_ids) < settings.max_new_tokens else "length"
    if settings.stop:
        hits = [i for i in (text.find(s) for s in settings.stop) if i >= 0]
        if hits:
            cut = min(hits)
            n = next(k for k in range(1, len(token_ids) + 1)
                     if any(s in tokenizer.decode(token_ids[:k], skip_special_tokens=True)
                            for s in settings.stop))
            return Completion(text[:cut], n, "stop", token_ids[:n])
    return Completion(text, len(token_ids), reason, list(token_ids))
