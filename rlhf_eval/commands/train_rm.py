"""Train a reward model (Bradley-Terry loss) on preference pairs or rankings.

Examples:
  rlhf-eval train-rm --data runs/lab/pairs.jsonl --model runs/sft --out runs/rm
  rlhf-eval train-rm --data train.jsonl --eval-data test.jsonl --model minilm --bf16 \\
      --max-length 256 --batch-size 16 --lr 5e-5 --out runs/rm-minilm
  rlhf-eval train-rm --data hh.jsonl.gz --adapter hh-rlhf --eval-split 0.2 --model PATH ...

--model takes a HF id or a folder: an encoder (``minilm`` = the bundled all-MiniLM-L6-v2), a
causal LM, an SFT policy (full or LoRA adapters; InstructGPT initialises the RM from it) or an
existing RM. The output folder holds a plain one-label AutoModelForSequenceClassification
(LoRA merged), its tokenizer, metrics.jsonl (per step and per evaluation) and train_config.json.
"""
from __future__ import annotations

# flag -> config field, for flags that map one to one
_FLAGS = {
    "max_length": int, "batch_size": int, "grad_accum": int, "lr": float, "weight_decay": float,
    "warmup_ratio": float, "epochs": float, "max_steps": int, "seed": int, "center_coef": float,
    "device": str, "lora_r": int, "lora_alpha": int, "lora_dropout": float, "eval_every": int,
    "eval_batch_size": int, "threads": int,
}


def add_arguments(p) -> None:
    from ..models import ATTENTION_CHOICES  # torch-free: the CLI starts fast

    p.add_argument("--data", required=True, help="training pairs/rankings (JSONL, CSV, ...)")
    p.add_argument("--eval-data", help="held-out pairs for evaluation")
    p.add_argument("--eval-split", type=float, default=0.0,
                   help="hold out this fraction of --data (seeded) when no --eval-data")
    p.add_argument("--adapter", help="input layout adapter, e.g. hh-rlhf")
    p.add_argument("--limit", type=int, default=0,
                   help="train on at most this many pairs (a seeded random subset)")
    p.add_argument("--model", help="backbone id or folder ('minilm' = bundled MiniLM)")
    p.add_argument("--out", required=True, help="output folder for the RM")
    p.add_argument("--config", help="YAML file with RewardTrainConfig fields")
    for name, typ in _FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, default=None)
    p.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast")
    p.add_argument("--no-margin", action="store_true", help="ignore the pairs' margin field")
    p.add_argument("--no-group-by-length", action="store_true")
    p.add_argument("--keep-dropout", action="store_true",
                   help="train with the backbone's dropout (default: off, as in TRL)")
    p.add_argument("--input-format", choices=["auto", "pair", "joined"], default=None,
                   help="encoders: 'pair' ([CLS] prompt [SEP] completion [SEP], the default) or "
                        "'joined' (one segment, as TRL feeds them)")
    p.add_argument("--attention", choices=ATTENTION_CHOICES, default=None,
                   help="attention kernel while training (auto: eager on CPU, where SDPA's "
                        "backward is slow; the model's default on GPU)")
    p.add_argument("--normalize", action="store_true", default=None,
                   help="shift rewards so the training completions score mean 0")
    p.add_argument("--no-progress", action="store_true")


def _split(pairs, fraction, seed):
    import numpy as np

    from ..errors import ConfigError

    if not 0 < fraction < 1:
        raise ConfigError(f"--eval-split: expected a fraction in (0, 1), found {fraction}")
    perm = np.random.default_rng(seed).permutation(len(pairs))
    n_eval = max(1, int(round(fraction * len(pairs))))
    return [pairs[i] for i in perm[n_eval:]], [pairs[i] for i in perm[:n_eval]]


def run(args) -> int:
    import numpy as np

    from ..config import load_config
    from ..models import minilm_path
    from ..training.reward import RewardTrainConfig, train_reward_model
    from ..rm.data import read_pairs

    overrides = {name: getattr(args, name) for name in _FLAGS}
    overrides["model"] = minilm_path() if args.model == "minilm" else args.model
    overrides["bf16"] = args.bf16
    overrides["normalize"] = args.normalize
    overrides["input_format"] = args.input_format
    overrides["attention"] = args.attention
    if args.no_margin:
        overrides["use_margin"] = False
    if args.keep_dropout:
        overrides["disable_dropout"] = False
    if args.no_group_by_length:
        overrides["group_by_length"] = False
    if args.no_progress:
        overrides["progress"] = False
    cfg = load_config(RewardTrainConfig, args.config, overrides).validate()
    from ..threads import apply_threads

    apply_threads(cfg.threads)  # 0: auto (the trainer leaves threads alone at 0)

    pairs, read = read_pairs(args.data, adapter=args.adapter)
    eval_pairs = None
    if args.eval_data:
        eval_pairs, _ = read_pairs(args.eval_data, adapter=args.adapter)
    elif args.eval_split:
        pairs, eval_pairs = _split(pairs, args.eval_split, cfg.seed)
    if args.limit and args.limit < len(pairs):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(pairs))[:args.limit])
        pairs = [pairs[i] for i in keep]
    print(f"train-rm: {len(pairs)} training pairs ({read.source}), "
          f"{len(eval_pairs) if eval_pairs else 0} evaluation pairs")
    result = train_reward_model(cfg, pairs, eval_pairs=eval_pairs, out=args.out)
    print(f"train-rm: {result.steps} steps, {result.pairs_per_second:.2f} pairs/s, "
          f"{result.truncated_train} training pairs truncated")
    if result.final_eval:
        ev = result.final_eval
        print(f"train-rm: eval accuracy {ev['accuracy']:.4f} on {ev['n_pairs']} pairs "
              f"(loss {ev['loss']:.4f}, {ev['truncated']} truncated)")
    if cfg.normalize:
        print(f"train-rm: normalised by offset {result.offset:.4f}")
    print(f"train-rm: saved {args.out}")
    return 0
