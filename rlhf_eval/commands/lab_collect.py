"""Collect on-policy comparisons in the lab: sample completions from a policy on the lab's train (or
eval) prompts and have the lab's simulated annotators compare them (InstructGPT's data collection).

Examples:
  rlhf-eval lab-collect --lab runs/lab --policy runs/sft --out runs/lab/pairs_policy.jsonl
  rlhf-eval lab-collect --lab runs/lab --policy runs/sft --out p.jsonl --temperature 1.0 0.7

--samples-per-prompt completions are drawn per prompt, split evenly over the --temperature
values; up to --pairs-per-prompt pairs of distinct samples with different gold rewards are
labelled, each by an annotator of the lab (read from lab.json) drawn at random. The pairs carry
the same meta as pairs.jsonl (gold of both sides, p_gold_better), so `eval-rm` and
`rm_ceilings` work on them. Same seed, same pairs, whatever the batch size.
"""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--lab", required=True, help="folder written by `rlhf-eval lab`")
    p.add_argument("--policy", required=True, help="policy to sample from (id or folder)")
    p.add_argument("--out", required=True, help="pairs file to write (JSONL)")
    p.add_argument("--samples-per-prompt", type=int, default=6)
    p.add_argument("--pairs-per-prompt", type=int, default=3)
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0, 0.7])
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--split", choices=["train", "eval"], default="train",
                   help="prompts_train.jsonl (RM training data) or prompts_eval.jsonl (held out)")
    p.add_argument("--n-prompts", type=int, help="use the first N prompts (default all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    from ..threads import add_threads_argument

    add_threads_argument(p, default=1)


def _annotators(lab_dir):
    import json
    from pathlib import Path

    from ..errors import DataError
    from ..lab import Annotator

    path = Path(lab_dir) / "lab.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))["config"]
        return tuple(Annotator(**a) for a in config["annotators"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"expected a lab manifest with config.annotators ({exc})",
                        path=str(path), field="annotators") from None


def run(args) -> int:
    import time
    from pathlib import Path

    import torch

    from ..errors import ConfigError
    from ..io import read_records, write_records
    from ..lab import annotator_gold_agreement, rm_ceilings
    from ..lab.collect import annotate_samples, sample_policy
    from ..models import load_causal_lm, load_tokenizer, pick_device

    temps = args.temperature
    if args.samples_per_prompt < 2 or args.samples_per_prompt % len(temps):
        raise ConfigError(f"--samples-per-prompt must be >= 2 and a multiple of the number of "
                          f"temperatures ({len(temps)}), found {args.samples_per_prompt}")
    from ..threads import apply_threads

    apply_threads(args.threads)
    annotators = _annotators(args.lab)
    prompts = read_records(Path(args.lab) / f"prompts_{args.split}.jsonl", "sample").records
    prompts = prompts[:args.n_prompts] if args.n_prompts else prompts
    device = pick_device(args.device)
    tok = load_tokenizer(args.policy, require_pad=True)
    model = load_causal_lm(args.policy).to(device)
    texts, ids = [p.prompt for p in prompts], [p.id for p in prompts]
    start = time.perf_counter()
    samples = [[] for _ in prompts]
    for j, t in enumerate(temps):
        drawn = sample_policy(model, tok, texts, [f"{i}-t{j}" for i in ids],
                              samples_per_prompt=args.samples_per_prompt // len(temps),
                              temperature=t, max_new_tokens=args.max_new_tokens,
                              seed=args.seed, batch_size=args.batch_size, device=device)
        for row, more in zip(samples, drawn):
            row += more
    pairs = annotate_samples(texts, samples, pairs_per_prompt=args.pairs_per_prompt,
                             seed=args.seed, annotators=annotators, prompt_ids=ids)
    if not pairs:
        raise ConfigError("the policy's samples never differ in gold reward: no pair to label "
                          "(more samples, a higher temperature?)")
    n = write_records(args.out, pairs)
    best = rm_ceilings(pairs, annotators)
    print(f"{n} pairs from {len(prompts)} prompts x {args.samples_per_prompt} samples "
          f"({time.perf_counter() - start:.0f} s) written to {args.out}")
    print(annotator_gold_agreement(pairs).round(3).to_string())
    print(f"best reward model on these pairs: {best['label']:.3f} against the labels, "
          f"{best['gold']:.3f} against the gold reward")
    return 0
