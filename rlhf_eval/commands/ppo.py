"""Tune a policy with PPO against a reward model, with a KL penalty to the reference.

Examples:
  rlhf-eval ppo --policy runs/sft --reward-model runs/rm --prompts lab/prompts_train.jsonl \\
      --run-dir runs/my-ppo --steps 200 --kl-coef 0.05
  rlhf-eval ppo --run-dir runs/my-ppo --resume ...        # continue from the newest checkpoint
  accelerate launch --cpu --num_processes 2 -m rlhf_eval.cli ppo ...   # data-parallel

The run folder gets run.json, metrics.jsonl/.csv (TRL metric names, plus objective/gold on lab
prompts) and checkpoint-<step>/ folders (policy or LoRA adapters loadable with from_pretrained,
value_model/, optimizer, scheduler, RNG states, trainer_state.json).
"""
from __future__ import annotations

import argparse

# flag -> PPOConfig field, for flags that map one to one
_FLAGS = {"steps": int, "batch_size": int, "num_minibatches": int,
          "gradient_accumulation_steps": int, "ppo_epochs": int, "learning_rate": float,
          "lr_schedule": str, "max_new_tokens": int, "min_new_tokens": int,
          "temperature": float, "kl_coef": float, "target_kl": float, "kl_estimator": str,
          "missing_eos_penalty": float, "save_every": int, "seed": int,
          "max_prompt_length": int, "vf_coef": float, "lam": float, "gamma": float}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..models import ATTENTION_CHOICES  # torch-free: the CLI starts fast

    parser.add_argument("--policy", required=True, help="initial (SFT) policy: HF id or path")
    parser.add_argument("--reward-model", required=True,
                        help="one-label sequence-classification RM (rlhf-eval train-rm)")
    parser.add_argument("--ref-model", help="reference policy (default: the initial policy)")
    parser.add_argument("--prompts", required=True, help="JSONL with a 'prompt' field per line")
    parser.add_argument("--run-dir", required=True, help="run folder, e.g. runs/my-ppo")
    parser.add_argument("--config", help="YAML file of PPOConfig fields")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest complete checkpoint in --run-dir")
    parser.add_argument("--lora", action="store_true", default=None,
                        help="train LoRA adapters only; the reference is the adapter-free base")
    parser.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast")
    parser.add_argument("--attention", choices=ATTENTION_CHOICES, default=None,
                        help="attention kernel (auto: eager on CPU, where SDPA's backward is "
                             "slow; the models' default on GPU)")
    parser.add_argument("--adaptive-kl", action="store_true", default=None,
                        help="Ziegler et al. 2019 adaptive KL coefficient towards --target-kl")
    parser.add_argument("--whiten-rewards", action="store_true", default=None)
    parser.add_argument("--gold", choices=["auto", "lab", "none"], default="auto",
                        help="log the lab's gold reward (auto: when the prompts are lab prompts)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from ..threads import add_threads_argument

    add_threads_argument(parser)  # recorded in run.json (torch_threads)
    helps = {"min_new_tokens": "PPO rollouts may not end (EOS) before this many tokens "
                               "(default 0; training only, eval samples without it)"}
    for name, typ in _FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=typ, default=None,
                            help=helps.get(name))


def _gold_fn(mode: str, prompts: list[str]):
    if mode == "none":
        return None
    from ..errors import DataError
    from ..lab.gold import gold_reward
    from ..lab.grammar import document_of

    if mode == "auto":
        try:
            document_of(prompts[0])
        except DataError:
            return None
    return lambda ps, cs: [gold_reward(p, c) for p, c in zip(ps, cs)]


def run(args) -> int:
    from transformers.utils import logging as hf_logging

    from ..config import load_config
    from ..models import load_causal_lm, load_tokenizer
    from ..training.ppo import PPOTrainer
    from ..training.ppo_config import PPOConfig
    from ..rm.model import load_reward_model
    from ..training.rollout import read_prompts

    hf_logging.disable_progress_bar()  # per-shard save/load bars would drown the PPO bar
    overrides = {k: getattr(args, k) for k in _FLAGS}
    overrides.update(lora=args.lora, bf16=args.bf16, adaptive_kl=args.adaptive_kl,
                     whiten_rewards=args.whiten_rewards, attention=args.attention)
    cfg = load_config(PPOConfig, args.config, overrides)
    from ..threads import apply_threads

    apply_threads(args.threads)
    prompts = read_prompts(args.prompts)
    tokenizer = load_tokenizer(args.policy, require_pad=True)
    policy = load_causal_lm(args.policy)
    ref = load_causal_lm(args.ref_model) if args.ref_model and not cfg.lora else None
    rm = load_reward_model(args.reward_model)
    trainer = PPOTrainer(
        cfg, policy=policy, tokenizer=tokenizer, prompts=prompts, run_dir=args.run_dir,
        reward_model=rm.model, reward_tokenizer=rm.tokenizer, reward_offset=rm.offset,
        reward_pair_format=rm.fmt == "pair", ref_model=ref,
        gold_fn=_gold_fn(args.gold, prompts), resume=args.resume,
        progress=not args.no_progress,
        sources={"policy_init": args.policy, "ref_model": args.ref_model or args.policy,
                 "reward_model": args.reward_model, "train_prompts": args.prompts})
    history = trainer.train()
    if history and trainer.acc.is_main_process:
        last = history[-1]
        print(f"step {last['step']}: score {last['objective/scores']:.4f}, "
              f"kl {last['objective/kl']:.4f}" +
              (f", gold {last['objective/gold']:.4f}" if "objective/gold" in last else "") +
              f" -> {args.run_dir}")
    return 0
