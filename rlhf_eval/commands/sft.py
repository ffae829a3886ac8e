"""Supervised fine-tuning of a policy on prompt/completion samples (loss on completion tokens).

Examples:
  rlhf-eval sft --data runs/lab/sft.jsonl --out runs/sft --tiny gpt2
  rlhf-eval sft --data runs/lab/sft.jsonl --out runs/sft --eval-prompts runs/lab/prompts_eval.jsonl
  rlhf-eval sft --data my.jsonl --out runs/sft --model gpt2 --lora --epochs 2
  rlhf-eval sft --data runs/lab/sft.jsonl --out runs/sft --config sft.yaml --max-steps 200

--data holds Sample records (prompt, completion). Without --model a tiny GPT-2 or Llama is
built with a BPE tokenizer trained on the data (plus --tokenizer-corpus files). The output
folder loads with AutoModelForCausalLM.from_pretrained; it also holds metrics.jsonl and
sft.json. With --eval-prompts (lab prompts with references) it then scores greedy outputs of
the untrained and the fine-tuned policy (gold reward, ROUGE-L) and writes sft_eval.json.
"""
from __future__ import annotations

# CLI flag -> SFTConfig field; None values (flags not given) leave the YAML/default value
_FLAGS = ("model", "tiny", "epochs", "max_steps", "batch_size", "lr", "seed", "device",
          "precision", "lora", "vocab_size", "max_length", "num_threads")


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, help="SFT samples (JSONL/JSON/CSV/Parquet/HF)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--split", help="split of a saved DatasetDict for --data (required when it "
                   "has several)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help="Hugging Face id or local path of the starting policy")
    src.add_argument("--tiny", choices=["gpt2", "llama"],
                     help="build a tiny model of this architecture (default gpt2)")
    p.add_argument("--tokenizer-corpus", nargs="*", default=[],
                   help="extra text files for the tiny BPE tokenizer")
    p.add_argument("--config", help="YAML file of SFTConfig fields")
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--precision", choices=["fp32", "bf16"])
    p.add_argument("--lora", action="store_true", default=None, help="train LoRA adapters")
    p.add_argument("--vocab-size", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--num-threads", type=int,
                   help="torch CPU threads (1 is much faster on a CPU shared with other jobs)")
    p.add_argument("--eval-prompts", help="lab prompts (Sample with references) to score on")
    p.add_argument("--eval-n", type=int, default=200, help="how many eval prompts to score")
    p.add_argument("--no-progress", action="store_true")


def _corpus(paths) -> list[str]:
    from pathlib import Path

    from ..errors import DataError

    out = []
    for path in paths:
        try:
            out += Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read tokenizer corpus: {exc}", path=path) from None
    return out


def run(args) -> int:
    import json

    from ..config import load_config
    from ..io import read_records, require_split
    from ..training.sft import SFTConfig, train_sft

    overrides = {k: getattr(args, k) for k in _FLAGS}
    if args.no_progress:
        overrides["progress"] = False
    cfg = load_config(SFTConfig, args.config, overrides)
    require_split(args.data, args.split)
    samples = read_records(args.data, "sample", split=args.split).records
    result = train_sft(cfg, samples, args.out, corpus=_corpus(args.tokenizer_corpus))
    print(f"sft: {result.steps} steps on {result.examples} samples in {result.wall_s:.1f} s, "
          f"final loss {result.final_loss:.3f}; saved to {result.out_dir}")
    if args.eval_prompts:
        from ..lab.policy_eval import compare_with_untrained

        prompts = read_records(args.eval_prompts, "sample").records[:args.eval_n]
        report = compare_with_untrained(args.out, prompts, seed=cfg.seed,
                                        num_threads=cfg.num_threads)
        print(json.dumps(report["mean"], indent=1))
    return 0
