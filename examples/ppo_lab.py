"""PPO on the lab, from the SFT policy against an RM trained on the lab annotators, with the
gold reward watched all along: does PPO raise the proxy (RM) *and* the gold reward, and at
which KL does gold stop rising (Gao et al. 2022, "Scaling laws for reward model
overoptimization")?

  rlhf-eval lab --out runs/lab --seed 0 --size demo                          # eval prompts
  rlhf-eval lab --out runs/lab-p6 --seed 0 --size demo --pairs-per-prompt 6  # 12k RM pairs
  rlhf-eval lab --out runs/lab-s1 --seed 1 --size demo        # fresh prompts for PPO, confirm
  rlhf-eval sft --data runs/lab/sft.jsonl --out runs/lab-sft-e3 --epochs 3 --precision bf16
  rlhf-eval sft --data runs/lab/sft.jsonl --out runs/lab-sft --epochs 8 --precision bf16
  rlhf-eval train-rm --data runs/lab-p6/pairs.jsonl --model minilm --out runs/lab-rm \\
      --epochs 2 --lr 1e-4 --batch-size 16 --bf16
  rlhf-eval lab-collect --lab runs/lab-s1 --policy runs/lab-sft --out runs/lab-s1/pairs_policy.jsonl
  rlhf-eval train-rm --data runs/lab-s1/pairs_policy.jsonl --model runs/lab-rm \\
      --out runs/lab-rm-pol --epochs 1 --lr 5e-5 --bf16             # on-policy fine-tuning
  python examples/ppo_lab.py --policy runs/lab-sft-e3 --reward-model runs/lab-rm-pol \\
      --lab runs/lab --prompts runs/lab-s1/prompts_train.jsonl \\
      --confirm-prompts runs/lab-s1/prompts_eval.jsonl --run-dir runs/lab-ppo \\
      --lr 1e-4 --lr-schedule constant --batch-size 64 --num-minibatches 4 --steps 300 --bf16
  python examples/ppo_lab.py ... --reward-model gold        # the oracle: PPO on gold itself

PPO starts from the 3-epoch SFT policy (gold ~0.18 sampled at temperature 0.7): its mistakes
(repeats, filler, invented facts, running long) are what an RM can see and PPO can fix. The
8-epoch policy (gold ~0.68) leaves little: even the oracle gained only +0.03 to +0.05 there.
About 25 min on one CPU core for 300 steps; the result of this recipe is in
``docs/results/ppo_lab/``.

Writes into the run folder, next to what ``rlhf-eval ppo`` writes:
- ``curve.csv``       per training step: gold, proxy (RM score), KL of the training rollouts;
- ``eval_curve.csv``  per checkpoint (and step 0): the same on held-out eval prompts with a
                      fixed sampling seed, with 95% bootstrap intervals;
- ``lab_summary.json`` paired bootstrap intervals of the gains (final and best checkpoint vs
                      the SFT policy) and the KL at which gold peaks (empirical, and from a fit
                      of R(d) = d (a - b ln d) + c, d = sqrt(KL), flagged when the fitted
                      peak lies outside the KLs the run visited); with --confirm-prompts,
                      ``confirm``: the best checkpoint's gains re-measured on fresh prompts.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np


def _ci(values, seed=0) -> dict:
    from rlhf_eval.stats import bootstrap_ci

    iv = bootstrap_ci(np.asarray(values, dtype=float), n_resamples=2000, seed=seed)
    return {"mean": iv.estimate, "ci_low": iv.low, "ci_high": iv.high}


def _write_csv(path: Path, rows: list[dict]) -> None:
    from rlhf_eval.io import atomic_write

    with atomic_write(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fit_gao(kl: np.ndarray, gold: np.ndarray) -> dict | None:
    """Least squares of gold = d (a - b ln d) + c, d = sqrt(KL); the peak is at
    d* = exp(a / b - 1) when b > 0."""
    from scipy.optimize import curve_fit

    d = np.sqrt(np.clip(kl, 1e-6, None))

    def model(d, a, b, c):
        return d * (a - b * np.log(d)) + c

    try:
        (a, b, c), _ = curve_fit(model, d, gold, p0=(0.1, 0.05, float(gold[0])), maxfev=20000)
    except RuntimeError:
        return None
    out = {"a": float(a), "b": float(b), "c": float(c)}
    if b > 0:
        d_star = math.exp(a / b - 1)
        # a peak beyond the KLs the run visited is an extrapolation, not a finding
        out.update(kl_at_peak=d_star ** 2, gold_at_peak=float(model(d_star, a, b, c)),
                   peak_in_observed_range=bool(d.min() <= d_star <= d.max()))
    return out


def evaluate_sft(trainer, sft_path: str, prompts):
    """The SFT policy's evaluation: in LoRA mode the base with adapters off, else its weights
    loaded into the live policy (the caller reloads a checkpoint afterwards)."""
    if trainer.cfg.lora:
        with trainer.policy.disable_adapter():
            return trainer.evaluate(prompts)
    trainer.load_policy_from(sft_path)
    return trainer.evaluate(prompts)


def confirm(trainer, sft_path: str, run_dir: Path, step: int, prompts) -> dict:
    """Gains of checkpoint ``step`` over the SFT policy on ``prompts``: paired, since
    ``evaluate`` draws the same sampling uniforms for both. Leaves that checkpoint loaded."""
    base = evaluate_sft(trainer, sft_path, prompts)
    if step == 0:  # no update beat the SFT policy on the eval prompts: nothing to confirm
        ev = base
    else:
        trainer.load_policy_from(run_dir / f"checkpoint-{step}")
        ev = trainer.evaluate(prompts)
    return {"prompts": len(prompts), "step": step, "kl": float(ev["kl"].mean()),
            "gold_sft": float(base["gold"].mean()), "gold": float(ev["gold"].mean()),
            "gold_gain": _ci(ev["gold"] - base["gold"]),
            "proxy_gain": _ci(ev["rm_score"] - base["rm_score"])}


def main() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from rlhf_eval.commands.ppo import _gold_fn
    from rlhf_eval.models import load_causal_lm, load_tokenizer
    from rlhf_eval.runs import list_checkpoints
    from rlhf_eval.training.ppo import PPOTrainer
    from rlhf_eval.training.ppo_config import PPOConfig
    from rlhf_eval.rm.model import load_reward_model
    from rlhf_eval.training.rollout import read_prompts

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", required=True)
    ap.add_argument("--reward-model", required=True,
                    help="RM folder, or 'gold' for the oracle run (PPO on the gold reward itself: "
                         "what PPO can reach with a perfect RM)")
    ap.add_argument("--lab", required=True, help="folder written by `rlhf-eval lab`")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--prompts", help="PPO prompts (default: the lab's prompts_train.jsonl, which "
                                      "the SFT policy was trained on; fresh prompts, e.g. "
                                      "another seed's lab, give PPO the eval distribution)")
    ap.add_argument("--confirm-prompts",
                    help="fresh prompts (e.g. another seed's prompts_eval.jsonl) on which the "
                         "best checkpoint, picked on the eval prompts, is compared with the SFT "
                         "policy again: picking the best of many checkpoints on one set "
                         "inflates its gain there")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--kl-coef", type=float, default=0.02)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=0.7,
                    help="sampling temperature (1.0 explores more: a tiny SFT policy at 0.7 "
                         "samples ~0.1 nats/token)")
    ap.add_argument("--lr-schedule", choices=["linear", "constant"], default="linear")
    ap.add_argument("--batch-size", type=int, default=16, help="rollouts per PPO step")
    ap.add_argument("--num-minibatches", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lora", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--attention", choices=["auto", "eager", "sdpa"], default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()

    lab, run_dir = Path(args.lab), Path(args.run_dir)
    prompts_file = Path(args.prompts) if args.prompts else lab / "prompts_train.jsonl"
    train_prompts = read_prompts(prompts_file)
    eval_prompts = read_prompts(lab / "prompts_eval.jsonl")[:args.eval_n]
    cfg = PPOConfig(steps=args.steps, batch_size=args.batch_size,
                    num_minibatches=args.num_minibatches, ppo_epochs=4,
                    max_new_tokens=args.max_new_tokens, learning_rate=args.lr,
                    temperature=args.temperature, lr_schedule=args.lr_schedule,
                    kl_coef=args.kl_coef, save_every=args.eval_every, lora=args.lora,
                    bf16=args.bf16, attention=args.attention)
    tok = load_tokenizer(args.policy, require_pad=True)
    if args.reward_model == "gold":
        from rlhf_eval.lab import gold_reward

        reward = {"reward_fn": lambda ps, cs: [gold_reward(p, c)["gold"] for p, c in zip(ps, cs)]}
    else:
        rm = load_reward_model(args.reward_model)
        reward = {"reward_model": rm.model, "reward_tokenizer": rm.tokenizer,
                  "reward_offset": rm.offset, "reward_pair_format": rm.fmt == "pair"}
    trainer = PPOTrainer(
        cfg, policy=load_causal_lm(args.policy), tokenizer=tok, prompts=train_prompts,
        run_dir=run_dir, **reward,
        gold_fn=_gold_fn("lab", train_prompts), resume=True,
        sources={"policy_init": args.policy, "reward_model": args.reward_model,
                 "train_prompts": str(prompts_file)})
    path = ("gold (oracle)" if trainer.scorer.fn else
            "token ids" if trainer.scorer.shares_tokens else "re-encoded text")
    print(f"reward path: {path}")

    # step 0: the SFT policy itself (before any update, or re-loaded when resuming)
    evals = {0: evaluate_sft(trainer, args.policy, eval_prompts) if trainer.step > 0
             else trainer.evaluate(eval_prompts)}
    if trainer.step > 0:
        trainer.load_policy_from(list_checkpoints(run_dir)[-1][1])
    trainer.train()

    for step, folder in list_checkpoints(run_dir):
        trainer.load_policy_from(folder)
        evals[step] = trainer.evaluate(eval_prompts)
        print(f"eval step {step}: gold {evals[step]['gold'].mean():.3f} "
              f"rm {evals[step]['rm_score'].mean():.3f} kl {evals[step]['kl'].mean():.2f}",
              flush=True)

    curve = [{"step": r["step"], "gold": r.get("objective/gold"),
              "proxy": r["objective/rm_score"], "kl": r["objective/kl"]}
             for r in trainer.history]
    _write_csv(run_dir / "curve.csv", curve)
    eval_rows = []
    for step, ev in sorted(evals.items()):
        g, p = _ci(ev["gold"]), _ci(ev["rm_score"])
        eval_rows.append({"step": step, "gold": g["mean"], "gold_ci_low": g["ci_low"],
                          "gold_ci_high": g["ci_high"], "proxy": p["mean"],
                          "proxy_ci_low": p["ci_low"], "proxy_ci_high": p["ci_high"],
                          "kl": float(ev["kl"].mean()), "length": float(ev["length"].mean())})
    _write_csv(run_dir / "eval_curve.csv", eval_rows)

    final = max(evals)
    best = max(evals, key=lambda s: evals[s]["gold"].mean())
    base = evals[0]

    def gains(step):
        return {"step": step, "kl": float(evals[step]["kl"].mean()),
                "gold_gain": _ci(evals[step]["gold"] - base["gold"]),
                "proxy_gain": _ci(evals[step]["rm_score"] - base["rm_score"])}

    kl = np.array([r["kl"] for r in eval_rows])
    gold = np.array([r["gold"] for r in eval_rows])
    summary = {"eval_prompts": len(eval_prompts), "config": vars(args),
               "final": gains(final), "best_gold": gains(best),
               "gold_peak": {"step": best, "kl": float(evals[best]["kl"].mean()),
                             "gold": float(evals[best]["gold"].mean()),
                             "rising_until_last_checkpoint": best == final},
               "gao_fit": fit_gao(kl, gold)}
    from rlhf_eval.io import atomic_write_text

    # written before the confirmation too, so a failure there keeps the run's own figures
    atomic_write_text(run_dir / "lab_summary.json", json.dumps(summary, indent=1))
    if args.confirm_prompts:
        summary["confirm"] = confirm(trainer, args.policy, run_dir, best,
                                     read_prompts(Path(args.confirm_prompts))[:args.eval_n])
        atomic_write_text(run_dir / "lab_summary.json", json.dumps(summary, indent=1))
    print(json.dumps({k: summary.get(k) for k in ("final", "best_gold", "gold_peak", "gao_fit",
                                                   "confirm")}, indent=1))


if __name__ == "__main__":
    main()
