"""Likelihood metrics (the BARTScore / GPTScore family) with any causal LM.

A text is scored by how likely a language model finds it after a conditioning text:

    score(cond -> target) = mean over the target's tokens t of log p(t | prompt(cond), target_<t)

- ``gptscore`` (Fu et al. 2023): source -> hypothesis, the source (the metric's ``prompts=``)
  under an instruction template ("Summarize the following text."); reference-free.
- ``bartscore`` (Yuan et al. 2021): reference -> hypothesis (precision, ``_p``), hypothesis ->
  reference (recall, ``_r``) and their arithmetic mean (``_f``, as BARTScore's F score).

BARTScore uses an encoder-decoder (BART); here the conditioning text goes into the prompt of a
decoder-only model, as GPTScore does. With an instruct model that has a chat template (the
default SmolLM2-135M-Instruct, converted offline by ``make models``), the template's text is the
user turn and the target is the assistant's answer; otherwise the prompt is the template's text
followed by a newline. The target ends with the tokenizer's EOS token (BART's decoder scores its
``</s>`` too), so an empty hypothesis has a defined score, log p(EOS | prompt).

Log-probabilities come from the evaluation layer's teacher-forced code
(:func:`rlhf_eval.lm.logprobs.completion_logprobs`, shared with ``kl``): each
target is tokenised on its own after the prompt, rows are left-padded with position ids that
ignore the padding. When several targets share one conditioning text (a source and its system
summaries), :func:`shared_prefix_logprobs` runs the prompt once and continues every target from
its KV cache (same numbers, tested). On SummEval with SmolLM2's tokenizer and the default
template that is 185k tokens run instead of 963k (100 prompts of 519 tokens on average, once,
plus 1,600 summaries of 83): still slow on a busy 2-core machine (``correlate --max-inputs``).
Higher is better for every score (a log-probability, <= 0).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, ModelError
from .base import Batch, Metric, Scores

SRC_HYP, REF_HYP, HYP_REF, BOTH = "src->hyp", "ref->hyp", "hyp->ref", "ref<->hyp"
DIRECTIONS = (SRC_HYP, REF_HYP, HYP_REF, BOTH)
DEFAULT_TEMPLATES = {
    SRC_HYP: "Summarize the following text.\n\n{text}",
    REF_HYP: "Paraphrase the following text.\n\n{text}",
}
DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class LikelihoodConfig:
    model: str
    direction: str
    template: str
    chat: str  # "auto" | "yes" | "no"
    eos: bool
    dtype: str
    batch_size: int
    max_prompt_tokens: int
    multi_ref: str


def _default_model() -> str:
    from ...smollm2 import smollm2_path

    return smollm2_path()


class LikelihoodMetric(Metric):
    """Mean target-token log-probability under a causal LM (see module doc).

    ``prefix`` names the scores: ``<prefix>`` for source -> hypothesis, ``<prefix>_p``,
    ``<prefix>_r``, ``<prefix>_f`` for the reference directions.
    """

    supports_variable_references = True

    def __init__(self, model: str | None = None, *, direction: str = SRC_HYP,
                 template: str | None = None, chat: str | bool = "auto", eos: bool = True,
                 device: str | None = "auto", dtype: str = "fp32", batch_size: int = 8,
                 max_prompt_tokens: int = 2048, multi_ref: str = "mean",
                 share_prefix: bool = True, prefix: str = "lmscore"):
        if direction not in DIRECTIONS:
            raise ConfigError(f"{prefix}: direction must be one of {DIRECTIONS}, found "
                              f"{direction!r}")
        if template is None:
            template = DEFAULT_TEMPLATES[SRC_HYP if direction == SRC_HYP else REF_HYP]
        if not isinstance(template, str) or template.count("{text}") != 1:
            raise ConfigError(f"{prefix}: template must contain '{{text}}' exactly once (the "
                              f"conditioning text), found {template!r}")
        chat = {True: "yes", False: "no"}.get(chat, chat)
        if chat not in ("auto", "yes", "no"):
            raise ConfigError(f"{prefix}: chat must be auto, yes or no, found {chat!r}")
        if dtype not in DTYPES:
            raise ConfigError(f"{prefix}: dtype must be one of {DTYPES}, found {dtype!r}")
        if multi_ref not in ("mean", "max"):
            raise ConfigError(f"{prefix}: multi_ref must be 'mean' or 'max', found "
                              f"{multi_ref!r}")
        for key, value in (("batch_size", batch_size), ("max_prompt_tokens", max_prompt_tokens)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{prefix}: {key} must be a positive integer, found {value!r}")
        self.cfg = LikelihoodConfig(str(model or _default_model()), direction, template, chat,
                                    bool(eos), dtype, batch_size, max_prompt_tokens, multi_ref)
        self.name = prefix
        self.device_name = device
        self.share_prefix = bool(share_prefix)  # speed only: equal numbers (tests)
        if direction == SRC_HYP:
            self.score_names = (prefix,)
        else:
            self.score_names = {REF_HYP: (f"{prefix}_p",), HYP_REF: (f"{prefix}_r",),
                                BOTH: (f"{prefix}_p", f"{prefix}_r", f"{prefix}_f")}[direction]
        self.higher_is_better = {k: True for k in self.score_names}
        self.needs_prompts = direction == SRC_HYP
        self.needs_references = direction != SRC_HYP
        self._tokenizer = None
        self._model = None
        self._device = None
        self._fingerprint = None

    # --------------------------------------------------------------------------- settings

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from ...models import load_tokenizer

            tok = load_tokenizer(self.cfg.model)
            if tok.eos_token is None and self.cfg.eos:
                raise ModelError(f"{self.name}: the tokenizer of {self.cfg.model!r} has no EOS "
                                 "token; pass eos=False")
            if tok.pad_token is None:
                # padding positions are masked out, so any id will do; no embedding resize
                tok.pad_token = tok.eos_token or tok.unk_token
            self._tokenizer = tok
        return self._tokenizer

    def uses_chat(self) -> bool:
        if self.cfg.chat == "auto":
            return bool(getattr(self.tokenizer, "chat_template", None))
        if self.cfg.chat == "yes" and not getattr(self.tokenizer, "chat_template", None):
            raise ModelError(f"{self.name}: chat=yes but {self.cfg.model!r} has no chat template")
        return self.cfg.chat == "yes"

    def signature(self) -> str:
        from importlib.metadata import version

        from ..model_metrics import path_fingerprint

        if self._fingerprint is None:
            self._fingerprint = path_fingerprint(self.cfg.model)
        c = self.cfg
        parts = [self.name, f"model={c.model}", f"model_hash={self._fingerprint}",
                 f"direction={c.direction}", f"template={json.dumps(c.template)}",
                 f"chat={'yes' if self.uses_chat() else 'no'}", f"eos={'yes' if c.eos else 'no'}",
                 "reduce=mean_token_logprob", f"dtype={c.dtype}",
                 f"max_prompt_tokens={c.max_prompt_tokens}"]
        if self.needs_references:
            parts.append(f"multi_ref={c.multi_ref}")
        parts += [f"torch={version('torch')}", f"transformers={version('transformers')}"]
        return "|".join(parts)

    # ---------------------------------------------------------------------------- scoring

    def prompt(self, text: str) -> str:
        """The prompt that conditions on ``text`` (chat-formatted for instruct models)."""
        content = self.cfg.template.replace("{text}", text)
        if self.uses_chat():
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": content}], tokenize=False,
                add_generation_prompt=True)
        return content + "\n"

    def target(self, text: str) -> str:
        return text + (self.tokenizer.eos_token if self.cfg.eos else "")

    def _load(self):
        if self._model is None:
            import torch

            from ...models import load_causal_lm, pick_device

            self._device = pick_device(self.device_name)
            dtype = torch.bfloat16 if self.cfg.dtype == "bf16" else torch.float32
            self._model = load_causal_lm(self.cfg.model, device=self._device, dtype=dtype)
            self._model.eval()
        return self._model

    def logprob_means(self, conds: list[str], targets: list[str]) -> np.ndarray:
        """Mean log p(target token | prompt(cond), earlier target tokens), one per pair.

        Pairs whose conditioning text is shared by several targets (a source and its 16
        system summaries) run the prompt once and the targets on its KV cache
        (:func:`shared_prefix_logprobs`); the others go through the teacher-forced code that
        ``kl`` uses. Both equal an unpadded forward of prompt + target (tests)."""
        from ...lm.logprobs import completion_logprobs

        model = self._load()
        unique = list(dict.fromkeys(zip(conds, targets)))  # a repeated pair is scored once
        groups: dict[str, list[str]] = {}
        for c, t in unique:
            groups.setdefault(c, []).append(t)
        means: dict[tuple[str, str], float] = {}
        single = []
        for c, ts in groups.items():
            if len(ts) < 2 or not self.share_prefix:
                single += [(c, t) for t in ts]
                continue
            lps = shared_prefix_logprobs(model, self.tokenizer, self.prompt(c),
                                         [self.target(t) for t in ts],
                                         max_prompt_tokens=self.cfg.max_prompt_tokens,
                                         batch_size=self.cfg.batch_size, device=self._device)
            means.update({(c, t): _mean(lp) for t, lp in zip(ts, lps)})
        if single:
            lps = completion_logprobs(model, self.tokenizer, [self.prompt(c) for c, _ in single],
                                      [self.target(t) for _, t in single],
                                      max_prompt_tokens=self.cfg.max_prompt_tokens,
                                      batch_size=self.cfg.batch_size, device=self._device)
            means.update({pair: _mean(lp) for pair, lp in zip(single, lps)})
        return np.array([means[p] for p in zip(conds, targets)], dtype=np.float64)

    def _score(self, batch: Batch) -> Scores:
        if self.cfg.direction == SRC_HYP:
            return {self.score_names[0]: self.logprob_means(batch.prompts, batch.predictions)}
        # every (prediction, reference) pair of the batch in one call
        owner, preds, refs = [], [], []
        for i, (p, rs) in enumerate(zip(batch.predictions, batch.references)):
            for r in rs:
                owner.append(i)
                preds.append(p)
                refs.append(r)
        owner = np.asarray(owner)
        per_pair = {}
        if self.cfg.direction in (REF_HYP, BOTH):
            per_pair["p"] = self.logprob_means(refs, preds)
        if self.cfg.direction in (HYP_REF, BOTH):
            per_pair["r"] = self.logprob_means(preds, refs)
        if self.cfg.direction == BOTH:
            per_pair["f"] = (per_pair["p"] + per_pair["r"]) / 2  # BARTScore's F: the mean
        agg = np.mean if self.cfg.multi_ref == "mean" else np.max
        n = len(batch.predictions)
        return {f"{self.name}_{k}": np.array([agg(v[owner == i]) for i in range(n)])
                for k, v in per_pair.items()}


def _mean(lp: np.ndarray) -> float:
    return float(lp.mean()) if lp.size else float("nan")


def shared_prefix_logprobs(model, tokenizer, prompt: str, targets: list[str], *,
                           max_prompt_tokens: int, batch_size: int, device) -> list[np.ndarray]:
    """Per-token log-probs (float64) of each target after one shared prompt.

    The prompt is encoded as the generator encodes prompts (trailing EOS dropped, its last
    ``max_prompt_tokens`` kept) and run once; each batch of targets (right-padded: padding
    after the real tokens cannot affect them under a causal mask) continues from a copy of its
    KV cache. On SummEval this cuts the tokens run for source -> summary by about 8x (one
    ~600-token article for 16 ~70-token summaries).
    """
    import copy

    import torch

    from ...lm.encode import context_limit, encode_prompts

    q = encode_prompts(tokenizer, [prompt], max_prompt_tokens)
    p_ids = q.input_ids[0, q.attention_mask[0].bool()].to(device)  # (P,)
    t_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in targets]
    limit = context_limit(model)
    if limit is not None and len(p_ids) + max(len(t) for t in t_ids) > limit:
        raise ModelError(f"a prompt of {len(p_ids)} tokens and a target of "
                         f"{max(len(t) for t in t_ids)} do not fit the model's {limit} positions; "
                         "lower max_prompt_tokens")
    P = len(p_ids)
    out: list[np.ndarray] = [np.zeros(0)] * len(targets)
    model.eval()
    with torch.inference_mode():
        first = model(input_ids=p_ids[None], use_cache=True)
        prompt_cache = first.past_key_values
        last = torch.log_softmax(first.logits[0, -1].double(), -1)  # predicts target token 0
        order = sorted(range(len(targets)), key=lambda i: len(t_ids[i]))
        for start in range(0, len(order), batch_size):
            rows = [i for i in order[start:start + batch_size] if t_ids[i]]
            if not rows:
                continue
            width = max(len(t_ids[i]) for i in rows)
            ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(rows), P + width), dtype=torch.long)
            mask[:, :P] = 1
            for b, i in enumerate(rows):
                ids[b, :len(t_ids[i])] = torch.tensor(t_ids[i])
                mask[b, P:P + len(t_ids[i])] = 1
            ids, mask = ids.to(device), mask.to(device)
            cache = copy.deepcopy(prompt_cache)
            cache.batch_repeat_interleave(len(rows))
            positions = torch.arange(P, P + width, device=device).expand(len(rows), -1)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                           past_key_values=cache, use_cache=True).logits  # (B, T, V)
            logp = torch.log_softmax(logits[:, :-1].double(), -1)
            rest = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
            head = last[ids[:, 0]]  # (B,)
            tok_logp = torch.cat([head[:, None], rest], 1).cpu().numpy()
            for b, i in enumerate(rows):
                out[i] = tok_logp[b, :len(t_ids[i])]
    return out


def gptscore(model: str | None = None, *, template: str | None = None,
             chat: str | bool = "auto", eos: bool = True, device: str | None = "auto",
             dtype: str = "fp32", batch_size: int = 8,
             max_prompt_tokens: int = 2048, share_prefix: bool = True) -> LikelihoodMetric:
    """Source -> hypothesis likelihood (reference-free; the source is ``prompts=``)."""
    return LikelihoodMetric(model, direction=SRC_HYP, template=template, chat=chat, eos=eos,
                            device=device, dtype=dtype, batch_size=batch_size,
                            max_prompt_tokens=max_prompt_tokens, share_prefix=share_prefix,
                            prefix="gptscore")


def bartscore(model: str | None = None, *, direction: str = BOTH, template: str | None = None,
              chat: str | bool = "auto", eos: bool = True, device: str | None = "auto",
              dtype: str = "fp32", batch_size: int = 8, max_prompt_tokens: int = 2048,
              multi_ref: str = "mean", share_prefix: bool = True) -> LikelihoodMetric:
    """Reference <-> hypothesis likelihoods: precision (ref->hyp), recall (hyp->ref), F."""
    if direction == SRC_HYP:
        raise ConfigError("bartscore: direction src->hyp is the gptscore metric")
    return LikelihoodMetric(model, direction=direction, template=template, chat=chat, eos=eos,
                            device=device, dtype=dtype, batch_size=batch_size,
                            max_prompt_tokens=max_prompt_tokens, multi_ref=multi_ref,
                            share_prefix=share_prefix, prefix="bartscore")
