"""PPO for RLHF: maximise the RM score under a KL penalty to the reference policy.

One update (``PPOTrainer.train_step``) is: rollout (sample, score, reference/value forward) ->
advantages (per-token KL reward, GAE, whitening) -> update (PPO epochs over minibatches) ->
log -> checkpoint. The implementation details follow Huang et al. 2024, "The N+
Implementation Details of RLHF with PPO" and Ouyang et al. 2022; the per-token reward is
-beta * KL_t with the RM score at the final token (Ziegler et al. 2019).

Data parallelism (``accelerate launch``): each process samples and scores its share of the
global batch; the rollout (token ids and per-token numbers, small) is then gathered so every
process computes the same advantages over the whole batch, and each minibatch is split across
processes with losses normalised by the *global* token count. DDP's gradient average then equals
the single-process gradient, so N processes reproduce a 1-process run with the same global batch.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import to_dict
from ..errors import RlhfEvalError
from ..models import disable_dropout, set_training_attention
from . import ops
from .ppo_config import PPOConfig
from ..lm.encode import context_limit, encode_prompts, positions_from_mask
from ..lm.generate import sample
from ..lm.logprobs import response_logprobs
from ..rm.model import same_vocabulary
from ..runs import (MetricsLogger, latest_checkpoint, relative_to_run, save_atomically,
                    write_json, write_run_json)
from ..rm.scorer import RewardFn, RewardScorer
from .ppo_models import PolicyAndValue, fast_activations, value_model_from

log = logging.getLogger(__name__)

GoldFn = Callable[[Sequence[str], Sequence[str]], Sequence[dict | float]]


class PPOFault(RlhfEvalError):
    """A non-finite number stopped the run; the last good checkpoint is left in place."""


@dataclass
class Rollout:
    """One global batch of episodes; tensors are (B, T) over response tokens unless noted."""

    query: torch.Tensor          # (B, Tq) left-padded prompt ids
    response: torch.Tensor       # (B, T) truncated after EOS, right-padded
    mask: torch.Tensor           # real response tokens (EOS included)
    lengths: torch.Tensor        # (B,)
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    rm_scores: torch.Tensor      # (B,) raw RM score
    scores: torch.Tensor         # (B,) after the missing-EOS penalty
    has_eos: torch.Tensor        # (B,)
    entropy: torch.Tensor        # (B,) mean per-token entropy of the sampling distribution


class PPOTrainer:
    """Train ``policy`` with PPO; see the module docstring. ``sources`` records in run.json
    where the models came from (paths or ids)."""

    def __init__(self, config: PPOConfig, *, policy, tokenizer, prompts: Sequence[str],
                 run_dir: str | Path, reward_model=None, reward_tokenizer=None,
                 reward_fn: RewardFn | None = None, reward_offset: float = 0.0,
                 reward_pair_format: bool = False, ref_model=None, value_model=None, gold_fn: GoldFn | None = None,
                 sources: dict | None = None, accelerator=None, resume: bool = False,
                 progress: bool = True):
        from accelerate import Accelerator

        self.cfg = config
        self.acc = accelerator or Accelerator(cpu=not torch.cuda.is_available())
        self.world, self.rank = self.acc.num_processes, self.acc.process_index
        config.check_world_size(self.world)
        self.tok = tokenizer
        if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
            raise RlhfEvalError("the policy tokenizer needs a pad token distinct from EOS "
                                "(rlhf_eval.models.ensure_pad_token)")
        self.prompts = list(prompts)
        self.run_dir = Path(run_dir)
        self.gold_fn, self.progress = gold_fn, progress
        self.device = self.acc.device
        self._build_models(policy, ref_model, value_model, reward_model, reward_tokenizer,
                           reward_fn, reward_offset, reward_pair_format)
        limit = context_limit(self.policy) or 1024
        self.max_prompt_length = config.max_prompt_length or (limit - config.max_new_tokens)
        if self.max_prompt_length < 1:
            raise RlhfEvalError(f"max_new_tokens={config.max_new_tokens} leaves no room for a "
                                f"prompt in the context of {limit} tokens")
        self.kl_ctl = (ops.AdaptiveKLController(config.kl_coef, config.target_kl,
                                                config.kl_horizon)
                       if config.adaptive_kl else ops.FixedKLController(config.kl_coef))
        self.step, self.history = 0, []
        if self.acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.acc.wait_for_everyone()
        if resume and latest_checkpoint(self.run_dir) is not None:
            self._load_checkpoint(latest_checkpoint(self.run_dir))
        elif latest_checkpoint(self.run_dir) is not None:
            # a fresh run over old checkpoints would let a later --resume pick a stale one
            raise RlhfEvalError(f"{self.run_dir} already holds checkpoints (newest: "
                                f"{latest_checkpoint(self.run_dir).name}); pass --resume to "
                                "continue that run, or choose a new run folder")
        elif self.acc.is_main_process:
            self._write_run_json(sources or {})
        self.logger = MetricsLogger(self.run_dir, self.history, csv=True,
                                    tensorboard=True) if self.acc.is_main_process \
            else None

    # ------------------------------------------------------------------------------ models

    def _build_models(self, policy, ref_model, value_model, reward_model, reward_tokenizer,
                      reward_fn, reward_offset, pair_format):
        """The four roles (see :mod:`.ppo_models`), prepared alike, then the RM scorer and the
        optimizer."""
        if reward_model is not None and reward_tokenizer is None:
            reward_tokenizer = self.tok  # an in-memory RM over the policy's vocabulary
        policy, value_model, reward_model, rm_disable = self._assign_roles(
            policy, ref_model, value_model, reward_model, reward_tokenizer, pair_format)
        for m in (policy, value_model, self.ref, reward_model):
            self._prepare_module(m)
        if reward_model is not None and not rm_disable:
            reward_model.requires_grad_(False)
        self.scorer = RewardScorer(policy_tokenizer=self.tok, model=reward_model,
                                   tokenizer=reward_tokenizer, fn=reward_fn, offset=reward_offset,
                                   disable_adapters=rm_disable, pair_format=pair_format)
        self.model = PolicyAndValue(policy, value_model)
        self._build_optimizer()

    def _assign_roles(self, policy, ref_model, value_model, reward_model, reward_tokenizer,
                      pair_format):
        """``(policy, value model, reward model, whether the RM is the value model with its
        adapters off)``; sets ``self.ref`` (None in LoRA mode: the policy, adapters off)."""
        cfg = self.cfg
        shares = reward_model is not None and not pair_format and \
            same_vocabulary(reward_tokenizer, self.tok)
        # LoRA: the value model is the RM itself plus adapters (its adapters off = the RM), so
        # no copy of the RM is made at all
        rm_as_value = cfg.lora and value_model is None and shares and \
            hasattr(reward_model, "score")
        if value_model is None and not rm_as_value:
            value_model = value_model_from(reward_model, policy, self.tok, reward_tokenizer,
                                           pair_format)
        if not cfg.lora:
            import copy

            self.ref = ref_model if ref_model is not None else copy.deepcopy(policy)
            self.ref.requires_grad_(False)
            return policy, value_model, reward_model, False
        from ..models import LoraSettings, apply_lora

        settings = LoraSettings(r=cfg.lora_r, alpha=cfg.lora_alpha)
        # peft draws lora_A from the global RNG: seed it (without disturbing the caller's
        # state) so that a run, its resume and its other processes start from the same A
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            policy = apply_lora(policy, settings)
            value_model = apply_lora(reward_model if rm_as_value else value_model,
                                     settings, task_type="SEQ_CLS")
        if rm_as_value:
            reward_model = value_model
        self.ref = None  # the policy with adapters disabled
        return policy, value_model, reward_model, rm_as_value

    def _prepare_module(self, m) -> None:
        # the same function at rollout and update time (Huang et al. detail 2); also keeps
        # the global RNG out of the loop, which exact resume relies on
        if isinstance(m, torch.nn.Module):
            disable_dropout(m)
            if self.cfg.fast_gelu:
                fast_activations(m)
            m.to(self.device)
            # all four alike: the reference's logprobs must be the policy's function, so
            # that KL at step 0 is exactly 0, and the RM's value head the value model's
            set_training_attention(m, self.device, self.cfg.attention)

    def _build_optimizer(self) -> None:
        cfg = self.cfg
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, eps=cfg.adam_eps,
                                      weight_decay=0.0)
        total = cfg.steps

        def factor(done: int) -> float:  # lr multiplier after `done` updates
            return 1.0 - done / total if cfg.lr_schedule == "linear" else 1.0

        # the scheduler is not prepared: accelerate would step it once per process
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        self.wrapped, self.optimizer = self.acc.prepare(self.model, optimizer)

    @property
    def policy(self):
        return self.model.policy

    @property
    def value(self):
        return self.model.value

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16)

    # ----------------------------------------------------------------------------- batches

    def _batch_prompts(self, step: int) -> list[str]:
        """The global batch of ``step`` (1-based): consecutive slices of a seeded permutation
        of the prompts, a new permutation per pass over the data."""
        B, n = self.cfg.batch_size, len(self.prompts)
        out = []
        for i in range((step - 1) * B, step * B):
            perm = np.random.default_rng([self.cfg.seed, i // n]).permutation(n)
            out.append(self.prompts[perm[i % n]])
        return out

    def _step_generator(self, step: int) -> torch.Generator:
        """Randomness of one update (sampling uniforms, minibatch order), derived from
        (seed, step): resuming at any step draws exactly what the uninterrupted run drew."""
        return torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)

    def _local(self, x):
        n = x.size(0) // self.world
        return x[self.rank * n:(self.rank + 1) * n]

    # ----------------------------------------------------------------------------- rollout

    @torch.no_grad()
    def rollout(self, step: int, prompts: list[str], gen: torch.Generator) -> tuple[Rollout, dict]:
        cfg, pad, eos = self.cfg, self.tok.pad_token_id, self.tok.eos_token_id
        enc = encode_prompts(self.tok, prompts, self.max_prompt_length)
        uniforms = torch.rand(len(prompts), cfg.max_new_tokens, generator=gen)
        query = self._local(enc.input_ids).to(self.device)
        qmask = self._local(enc.attention_mask).to(self.device)
        policy = self.policy
        with self._autocast():
            response = sample(policy, query, qmask, self._local(uniforms),
                              temperature=cfg.temperature, eos_token_id=eos, pad_token_id=pad,
                              min_new_tokens=cfg.min_new_tokens)
        lengths = ops.response_lengths(response, pad)
        mask = torch.arange(response.size(1), device=self.device)[None] < lengths[:, None]
        ids = torch.cat([query, response], 1)
        attn = ids != pad
        Tq, keep = query.size(1), response.size(1) + 1
        with self._autocast():
            logits, values = self.model(ids, attn, logits_to_keep=keep)
            logprobs, entropy = self._response_logprobs(logits, response, mask, entropy=True)
            values = values[:, Tq - 1:-1].float()
            ref_kw = dict(input_ids=ids, attention_mask=attn,
                          position_ids=positions_from_mask(attn), use_cache=False,
                          logits_to_keep=keep)
            if self.ref is None:
                with policy.disable_adapter():
                    ref_logits = policy(**ref_kw).logits
            else:
                ref_logits = self.ref(**ref_kw).logits
            ref_logprobs, _ = self._response_logprobs(ref_logits, response, mask)
            local_prompts = self._local_list(prompts)
            completions = self.tok.batch_decode(response, skip_special_tokens=True)
            rm_scores = self.scorer(query, response, lengths, local_prompts, completions).float()
        has_eos = (response == eos).any(1)
        per_seq_entropy = ops.masked_mean(entropy, mask, dim=1)
        gathered = [self.acc.gather(t.contiguous()) for t in
                    (query, response, mask, lengths, logprobs, ref_logprobs, values, rm_scores,
                     has_eos, per_seq_entropy)]
        q, r, m, ln, lp, rlp, v, rm, he, ent = gathered
        scores = rm - (cfg.missing_eos_penalty or 0.0) * (~he).float()
        info = {"prompts/truncated": enc.truncated}
        return Rollout(q, r, m, ln, lp, rlp, v, rm, scores, he, ent), info

    def _local_list(self, items: list):
        n = len(items) // self.world
        return items[self.rank * n:(self.rank + 1) * n]

    def _response_logprobs(self, logits, response, mask, entropy: bool = False):
        return response_logprobs(logits, response, mask, temperature=self.cfg.temperature,
                                 pad_token_id=self.tok.pad_token_id, entropy=entropy,
                                 eos_token_id=self.tok.eos_token_id,
                                 min_new_tokens=self.cfg.min_new_tokens)

    # -------------------------------------------------------------------------- advantages

    def advantages(self, ro: Rollout):
        cfg = self.cfg
        kl = ops.KL_ESTIMATORS[cfg.kl_estimator](ro.logprobs, ro.ref_logprobs) * ro.mask
        rewards, non_score = ops.per_token_rewards(ro.scores, kl, self.kl_ctl.value, ro.lengths,
                                                   ro.mask)
        if cfg.whiten_rewards:
            rewards = ops.masked_whiten(rewards, ro.mask, shift_mean=False) * ro.mask
        adv, returns = ops.gae(rewards, ro.values, ro.mask, cfg.gamma, cfg.lam)
        adv = ops.masked_whiten(adv, ro.mask) * ro.mask
        kl_seq = kl.sum(1)
        stats = {"objective/kl": kl_seq.mean().item(),
                 "objective/entropy": (-ro.logprobs * ro.mask).sum(1).mean().item(),
                 "objective/non_score_reward": non_score.sum(1).mean().item(),
                 "objective/scores": ro.scores.mean().item(),
                 "objective/rm_score": ro.rm_scores.mean().item(),
                 "objective/kl_coef": float(self.kl_ctl.value),
                 "objective/response_length": ro.lengths.float().mean().item(),
                 "policy/entropy": ro.entropy.mean().item(),
                 "val/num_eos_tokens": int(ro.has_eos.sum().item())}
        stats["objective/rlhf_reward"] = stats["objective/scores"] + \
            stats["objective/non_score_reward"]
        return adv, returns, stats

    # ------------------------------------------------------------------------------ update

    def update(self, step: int, ro: Rollout, adv, returns, gen: torch.Generator) -> dict:
        cfg = self.cfg
        B, mb = ro.query.size(0), cfg.minibatch_size
        Tq = ro.query.size(1)
        keys = ("policy/approxkl", "policy/clipfrac", "loss/policy", "loss/value",
                "val/clipfrac", "val/ratio")
        totals = torch.zeros(len(keys), dtype=torch.float64)
        n_minibatches = 0
        for _ in range(cfg.ppo_epochs):
            perm = torch.randperm(B, generator=gen)
            for start in range(0, B, mb):
                rows = perm[start:start + mb]
                n_tokens = ro.mask[rows].sum().clamp(min=1)
                local = rows[self.rank::self.world]  # each process: an equal share
                for micro in local.chunk(cfg.gradient_accumulation_steps):
                    contrib = self._micro_step(step, ro, adv, returns, micro.to(ro.mask.device),
                                               Tq, n_tokens)
                    totals += contrib
                if cfg.max_grad_norm is not None:
                    self.acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                n_minibatches += 1
        totals = self.acc.reduce(totals.to(self.device), reduction="sum").cpu()
        return {k: float(v) / n_minibatches for k, v in zip(keys, totals)}

    def _micro_step(self, step, ro, adv, returns, rows, Tq, n_tokens):
        cfg = self.cfg
        ids = torch.cat([ro.query[rows], ro.response[rows]], 1)
        mask = ro.mask[rows]
        with self._autocast():
            logits, vpred = self.wrapped(ids, ids != self.tok.pad_token_id,
                                         logits_to_keep=ro.response.size(1) + 1)
            new_logp, _ = self._response_logprobs(logits, ro.response[rows], mask)
        vpred = vpred[:, Tq - 1:-1].float()
        pg_loss, pstats = ops.clipped_policy_loss(new_logp, ro.logprobs[rows], adv[rows], mask,
                                                  cfg.cliprange)
        vf_loss, vclip = ops.clipped_value_loss(vpred, ro.values[rows], returns[rows], mask,
                                                cfg.cliprange_value)
        self._check_finite(step, {"loss/policy": pg_loss, "loss/value": vf_loss})
        # masked means over this micro-batch -> share of the global minibatch mean; times the
        # world size because DDP averages gradients over processes
        share = mask.sum() / n_tokens
        loss = (pg_loss + cfg.vf_coef * vf_loss) * share * self.world
        self.acc.backward(loss)
        vals = [pstats["approxkl"], pstats["clipfrac"], pg_loss, vf_loss, vclip, pstats["ratio"]]
        return torch.stack([v.detach().double() for v in vals]).cpu() * float(share)

    def _check_finite(self, step: int, named: dict) -> None:
        bad = [(k, v) for k, v in named.items() if not ops.is_finite(v)]
        flag = torch.tensor([1.0 if bad else 0.0], device=self.device)
        if self.world > 1:
            flag = self.acc.reduce(flag, reduction="sum")
        if flag.item() == 0:
            return
        last = latest_checkpoint(self.run_dir)
        what = ", ".join(f"{k}={_describe(v)}" for k, v in bad) or "a value on another process"
        raise PPOFault(f"step {step}: non-finite {what}; stopping. Last good checkpoint: "
                       f"{last if last else 'none (no checkpoint was written yet)'}")

    # --------------------------------------------------------------------------------- loop

    def train_step(self, step: int) -> dict:
        t0 = time.perf_counter()
        gen = self._step_generator(step)
        prompts = self._batch_prompts(step)
        ro, info = self.rollout(step, prompts, gen)
        self._check_finite(step, {"objective/scores": ro.rm_scores})
        adv, returns, stats = self.advantages(ro)
        lr = self.scheduler.get_last_lr()[0]
        stats.update(self.update(step, ro, adv, returns, gen))
        self.scheduler.step()
        self.kl_ctl.update(stats["objective/kl"], self.cfg.batch_size)
        row = {"step": step, "episode": step * self.cfg.batch_size, "lr": lr, **stats, **info}
        if self.gold_fn is not None and self.acc.is_main_process:
            row.update(self._gold(prompts, ro))
        row["eps"] = self.cfg.batch_size / (time.perf_counter() - t0)
        return row

    def _gold(self, prompts, ro: Rollout) -> dict:
        completions = self.tok.batch_decode(ro.response, skip_special_tokens=True)
        results = self.gold_fn(prompts, completions)
        out: dict[str, list[float]] = {}
        for r in results:
            for k, v in (r.items() if isinstance(r, dict) else [("gold", r)]):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.setdefault(k, []).append(float(v))
        return {("objective/gold" if k == "gold" else f"gold/{k}"): float(np.mean(v))
                for k, v in out.items()}

    @torch.no_grad()
    def evaluate(self, prompts: Sequence[str], *, seed: int = 12345,
                 batch_size: int | None = None) -> dict:
        """Sample one completion per prompt from the current policy (training temperature,
        fixed uniforms from ``seed``, so two checkpoints see the same randomness) and return
        per-episode numpy arrays: ``rm_score``, ``score`` (after the EOS penalty), ``kl`` (sum
        over tokens of the configured estimator against the reference), ``length``, ``gold``
        (when a gold function is set), and the ``completions``."""
        prompts = list(prompts)
        bs = batch_size or self.cfg.batch_size
        out: dict[str, list] = {}
        gen = torch.Generator().manual_seed(seed)
        for start in range(0, len(prompts), bs):
            chunk = prompts[start:start + bs]
            ro, _ = self.rollout(0, chunk, gen)
            kl = ops.KL_ESTIMATORS[self.cfg.kl_estimator](ro.logprobs, ro.ref_logprobs) * ro.mask
            parts = {"rm_score": ro.rm_scores, "score": ro.scores, "kl": kl.sum(1),
                     "length": ro.lengths.float()}
            for k, v in parts.items():
                out.setdefault(k, []).extend(v.cpu().tolist())
            completions = self.tok.batch_decode(ro.response, skip_special_tokens=True)
            out.setdefault("completions", []).extend(completions)
            if self.gold_fn is not None:
                out.setdefault("gold", []).extend(
                    r["gold"] if isinstance(r, dict) else float(r)
                    for r in self.gold_fn(chunk, completions))
        return {k: (v if k == "completions" else np.asarray(v, dtype=float))
                for k, v in out.items()}

    def load_policy_from(self, checkpoint: str | Path) -> None:
        """Put the policy weights (or adapters) of ``checkpoint`` into the live policy."""
        _load_weights(self.policy, Path(checkpoint))

    def train(self) -> list[dict]:
        from tqdm.auto import tqdm

        bar = tqdm(total=self.cfg.steps, initial=self.step, desc="ppo",
                   disable=not (self.progress and self.acc.is_main_process))
        try:
            while self.step < self.cfg.steps:
                row = self.train_step(self.step + 1)
                self.step += 1
                self.history.append(row)
                if self.logger is not None:
                    self.logger.log(row)
                bar.update(1)
                bar.set_postfix(kl=f"{row['objective/kl']:.2f}",
                                score=f"{row['objective/scores']:.3f}")
                if self.step % self.cfg.save_every == 0 or self.step == self.cfg.steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            if self.logger is not None:
                self.logger.close()
        return self.history

    # ------------------------------------------------------------------------- checkpoints

    def _write_run_json(self, sources: dict) -> None:
        # Paths relative to the run folder, so a moved or copied run still finds its models;
        # run_id (kept across resumes) makes a moved run the same run in the results store.
        old = self.run_dir / "run.json"
        try:
            run_id = json.loads(old.read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError, AttributeError):
            run_id = None
        rel = lambda key, default="<in-memory>": relative_to_run(  # noqa: E731
            sources.get(key, default), self.run_dir)
        run = {"name": self.run_dir.name, "run_id": run_id or uuid.uuid4().hex,
               "policy_init": rel("policy_init"),
               "ref_model": rel("ref_model", sources.get("policy_init", "<in-memory>")),
               "reward_model": rel("reward_model"),
               "lora": self.cfg.lora, "train_prompts": rel("train_prompts"),
               "config": to_dict(self.cfg), "seed": self.cfg.seed,
               "num_processes": self.world, "torch": torch.__version__,
               "torch_threads": torch.get_num_threads()}
        write_run_json(self.run_dir, run)

    def save_checkpoint(self) -> Path | None:
        self.acc.wait_for_everyone()
        path = None
        if self.acc.is_main_process:
            path = save_atomically(self.run_dir, self.step, self._write_checkpoint)
        self.acc.wait_for_everyone()
        return path

    def _write_checkpoint(self, folder: Path) -> None:
        self.policy.save_pretrained(folder)
        self.tok.save_pretrained(folder)
        self.value.save_pretrained(folder / "value_model")
        # every .pt file holds only tensors and plain containers, so resume can read it with
        # torch.load(weights_only=True): a planted pickle in a run folder is refused, not run
        torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")
        torch.save(self.scheduler.state_dict(), folder / "scheduler.pt")
        torch.save(rng_state_to_plain(self.cfg.seed * 1_000_003 + self.step + 1),
                   folder / "rng_state.pt")
        write_json(folder / "ppo_config.json", to_dict(self.cfg))
        write_json(folder / "trainer_state.json",
                   {"step": self.step, "episode": self.step * self.cfg.batch_size,
                    "kl_coef": float(self.kl_ctl.value), "metrics": self.history,
                    "num_processes": self.world})

    def _load_checkpoint(self, folder: Path) -> None:
        _check_resumable(json.loads((folder / "ppo_config.json").read_text()),
                         to_dict(self.cfg), to_dict(PPOConfig()), folder)
        state = json.loads((folder / "trainer_state.json").read_text())
        _load_weights(self.policy, folder)
        _load_weights(self.value, folder / "value_model")
        self.optimizer.load_state_dict(load_trusted_free(folder / "optimizer.pt"))
        self.scheduler.load_state_dict(load_trusted_free(folder / "scheduler.pt"))
        restore_rng_state(load_trusted_free(folder / "rng_state.pt"), folder / "rng_state.pt")
        self.kl_ctl.value = state["kl_coef"]
        self.step, self.history = state["step"], state["metrics"]
        log.info("resumed from %s (step %d)", folder, self.step)


def load_trusted_free(path: Path):
    """``torch.load`` that never unpickles code: tensors and plain containers only
    (``weights_only=True``). A file holding anything else (a planted pickle, or a checkpoint
    written before rng_state.pt became plain) is refused with a clear error."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RlhfEvalError(f"{path}: missing; the checkpoint is incomplete") from None
    except Exception as exc:  # UnpicklingError and friends: never fall back to a full unpickle
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RlhfEvalError(
            f"{path}: refused to load: it is not a plain tensor file ({first}). Only tensors and "
            "plain containers are read (weights_only=True), so a file holding other Python "
            "objects is never unpickled; start a new run if it came from an older version"
        ) from None


def rng_state_to_plain(sampling_seed: int) -> dict:
    """Python, NumPy and torch RNG states as tensors/ints/lists (loadable with
    ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [int(version), torch.tensor(internal, dtype=torch.int64),
                       None if gauss is None else float(gauss)],
            "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)),
                      "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
            "torch": torch.get_rng_state(), "sampling_seed": int(sampling_seed)}


def restore_rng_state(rng: dict, path: Path) -> None:
    try:
        version, internal, gauss = rng["python"]
        random.setstate((int(version), tuple(int(x) for x in internal.tolist()), gauss))
        n = rng["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), int(n["pos"]),
                             int(n["has_gauss"]), float(n["cached"])))
        torch.set_rng_state(rng["torch"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise RlhfEvalError(f"{path}: not a valid RNG state ({type(exc).__name__}: {exc})"
                            ) from None


# what a resumed run may change: how long it runs, how often it saves or logs, and the
# attention kernel (a speed choice: same function up to rounding). Any other field (learning
# rate, batch, KL, sampling...) would silently splice two different runs.
RESUMABLE_CHANGES = frozenset({"steps", "save_every", "log_every", "attention"})


def _check_resumable(saved: dict, now: dict, defaults: dict, folder: Path) -> None:
    # a field added after the checkpoint was written counts as its default there; one since
    # removed from PPOConfig (in the checkpoint only) has nothing to compare with
    saved = {**defaults, **saved}
    changed = {k: (saved[k], now[k]) for k in now
               if k not in RESUMABLE_CHANGES and saved[k] != now[k]}
    if changed:
        diff = ", ".join(f"{k}: {a!r} in the checkpoint, {b!r} now"
                         for k, (a, b) in sorted(changed.items()))
        raise RlhfEvalError(f"cannot resume {folder} with a different configuration ({diff}); "
                            f"only {', '.join(sorted(RESUMABLE_CHANGES))} may change. Use the "
                            "checkpoint's settings or start a new run folder")
    if saved.get("steps") != now.get("steps") and now.get("lr_schedule") == "linear":
        log.warning("resuming with steps %s instead of %s: the linear learning-rate decay now "
                    "ends at step %s", now.get("steps"), saved.get("steps"), now.get("steps"))


def _describe(v) -> str:
    if isinstance(v, torch.Tensor):
        bad = v[~torch.isfinite(v)]
        return f"{bad.flatten()[0].item()} ({bad.numel()} of {v.numel()} values)"
    return str(v)


def _load_weights(model, folder: Path) -> None:
    """Copy the weights saved by ``save_pretrained`` in ``folder`` into ``model`` in place."""
    if hasattr(model, "peft_config"):
        from peft import load_peft_weights, set_peft_model_state_dict

        set_peft_model_state_dict(model, load_peft_weights(str(folder)))
        return
    loaded = type(model).from_pretrained(str(folder))
    model.load_state_dict(loaded.state_dict())
