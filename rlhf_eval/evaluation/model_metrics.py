"""Metrics that need a model: ``reward`` and ``kl`` (the lab's ``gold`` is a plug-in:
:mod:`rlhf_eval.lab.metric`).

They implement the same :class:`~rlhf_eval.evaluation.metrics.Metric` interface as ROUGE or
BLEU (keyword-only ``predictions=``/``prompts=``, NaN = missing, a signature) and are
registered in the metric registry when this module is imported. Models load lazily, on the
first call that needs them, so building a metric (to read its signature and decide whether
anything is left to score) costs nothing.

- ``reward``  the reward model's score of (prompt, completion), through the RM engineer's
              :class:`rlhf_eval.rm.scorer.RewardScorer` (any one-label
              sequence-classification model, an id or a folder).
- ``kl``      per-sample KL to the reference model, the quantity PPO penalises
              (Ziegler et al. 2019; Stiennon et al. 2020): sum over the completion tokens of
              log pi(y_t | x, y_<t) - log pi_ref(y_t | x, y_<t), teacher-forced on the
              completion text re-tokenised after the prompt (no EOS appended), at
              temperature 1. It is the single-sample (k1) estimate of KL(pi || pi_ref) when the
              completion was sampled from pi; for greedy completions it is the log-ratio of the
              chosen text, which is what over-optimisation plots use.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .metrics import Metric, register_metric
from .metrics.base import Batch, Scores


def path_fingerprint(name_or_path: str | os.PathLike, *, full_hash_limit: int = 256 << 20
                     ) -> str:
    """A content hash of a model folder (weights, adapters, config, tokenizer files).

    Files are hashed by content while the folder holds at most ``full_hash_limit`` bytes of
    them; above that, by name + size + mtime (hashing many GB on every poll would cost more
    than evaluating). A hub id (no such folder) is fingerprinted by its name.
    """
    p = Path(name_or_path)
    if not p.is_dir():
        return "id:" + str(name_or_path)
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.suffix in (".safetensors", ".bin", ".json", ".model", ".txt")
                   and f.name not in ("trainer_state.json", "metrics.json", "ppo_config.json"))
    total = sum(f.stat().st_size for f in files)
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}".encode())
        if total <= full_hash_limit:
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        else:
            h.update(str(st.st_mtime_ns).encode())
    return ("sha:" if total <= full_hash_limit else "stat:") + h.hexdigest()[:16]


def _versions() -> str:
    import torch
    import transformers

    return f"torch={torch.__version__}|transformers={transformers.__version__}"


# --------------------------------------------------------------------------------- reward


class RewardMetric(Metric):
    name = "reward"
    score_names = ("reward",)
    higher_is_better = {"reward": True}
    needs_references = False
    needs_prompts = True

    def __init__(self, model: str | None = None, *, device: str = "auto", batch_size: int = 16,
                 max_length: int | None = None, bf16: bool = False):
        if not model:
            raise ModelError("metric 'reward' needs a reward model (model=, or 'reward_model' "
                             "in run.json / --reward-model)")
        self.model_path = str(model)
        self.device, self.batch_size, self.max_length, self.bf16 = (device, batch_size,
                                                                    max_length, bf16)
        self._scorer = None
        self._fingerprint = path_fingerprint(self.model_path)
        self.calls = 0  # forward batches requested (tests count work with it)

    def signature(self) -> str:
        return (f"reward|rm={self.model_path}|rm_hash={self._fingerprint}|"
                f"max_len={self.max_length or 'model'}|{'bf16' if self.bf16 else 'fp32'}|"
                f"{_versions()}")

    def scorer(self):
        if self._scorer is None:
            from ..rm.scorer import RewardScorer

            self._scorer = RewardScorer(self.model_path, device=self.device,
                                        batch_size=self.batch_size, max_length=self.max_length,
                                        bf16=self.bf16)
        return self._scorer

    def _score(self, batch: Batch) -> Scores:
        self.calls += 1
        return {"reward": self.scorer().score(batch.prompts, batch.predictions)}


# ------------------------------------------------------------------------------------- kl


class KLMetric(Metric):
    """Per-sample sum of log pi - log pi_ref over the completion tokens (see module doc)."""

    name = "kl"
    score_names = ("kl",)
    higher_is_better = {"kl": None}  # a diagnostic: low is close to the reference, not "better"
    needs_references = False
    needs_prompts = True

    def __init__(self, policy=None, ref=None, *, tokenizer=None, ref_path: str | None = None,
                 device: str = "auto", batch_size: int = 16, max_prompt_tokens: int = 512):
        """``policy``/``ref``: loaded models or paths; ``tokenizer``: the policy's tokenizer
        (loaded from the policy path when omitted). ``ref_path`` names the reference in the
        signature when ``ref`` is a loaded model."""
        if ref is None and ref_path is None:
            raise ModelError("metric 'kl' needs a reference model (ref=, or 'ref_model' in "
                             "run.json / --ref-model)")
        self.policy, self.ref, self.tokenizer = policy, ref, tokenizer
        self.ref_path = str(ref_path or ref)
        self.device_name, self.batch_size = device, batch_size
        self.max_prompt_tokens = max_prompt_tokens
        self._ref_fp = path_fingerprint(self.ref_path)
        self.calls = 0

    def signature(self) -> str:
        return (f"kl|estimator=sum_logratio|ref={self.ref_path}|ref_hash={self._ref_fp}|"
                f"max_prompt_tokens={self.max_prompt_tokens}|fp32|{_versions()}")

    def _models(self):
        from ..models import load_causal_lm, load_tokenizer, pick_device

        device = pick_device(self.device_name)
        if isinstance(self.policy, (str, os.PathLike)):
            if self.tokenizer is None:
                self.tokenizer = load_tokenizer(str(self.policy), require_pad=True)
            self.policy = load_causal_lm(str(self.policy), device=device)
        if self.policy is None:
            raise ModelError("metric 'kl' needs the policy (policy=) to score completions")
        if isinstance(self.ref, (str, os.PathLike)) or self.ref is None:
            self.ref = load_causal_lm(self.ref_path, device=device)
        if self.tokenizer is None:
            raise ModelError("metric 'kl': pass tokenizer= with a loaded policy")
        vp = self.policy.get_output_embeddings().weight.shape[0]
        vr = self.ref.get_output_embeddings().weight.shape[0]
        if vp != vr:
            raise ModelError(f"metric 'kl': the policy and the reference {self.ref_path!r} have "
                             f"different vocabularies ({vp} vs {vr} tokens)")
        return device

    def _score(self, batch: Batch) -> Scores:
        from ..lm.logprobs import completion_logprobs

        self.calls += 1
        device = self._models()
        kw = dict(max_prompt_tokens=self.max_prompt_tokens, batch_size=self.batch_size)
        lp = completion_logprobs(self.policy, self.tokenizer, batch.prompts, batch.predictions,
                                 device=device, **kw)
        lr = completion_logprobs(self.ref, self.tokenizer, batch.prompts, batch.predictions,
                                 device=next(self.ref.parameters()).device, **kw)
        return {"kl": np.array([float((a - b).sum()) for a, b in zip(lp, lr)])}


register_metric("reward", RewardMetric)
register_metric("kl", KLMetric)
