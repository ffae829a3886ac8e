"""TRL side of benchmarks/bench_reward.py; runs inside .venv-trl116 (trl==1.16.0).

Reads a JSON job from argv[1], trains trl.RewardTrainer, saves the model weights, and prints
one JSON line: {"seconds": wall time of trainer.train(), "steps", "n_train", ...}.
Kept free of rlhf_eval imports: it runs in another virtual environment.
"""
import json
import sys
import time


def main() -> None:
    job = json.loads(sys.argv[1])
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    torch.set_num_threads(job["threads"])
    rows = [json.loads(line) for line in open(job["train"], encoding="utf-8")]
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    tok = AutoTokenizer.from_pretrained(job["tokenizer"])
    extra = {"attn_implementation": job["attention"]} if job.get("attention") else {}
    model = AutoModelForSequenceClassification.from_pretrained(job["model"], num_labels=1,
                                                               **extra)
    args = RewardConfig(
        output_dir=job["out"] + "/trainer", per_device_train_batch_size=job["batch_size"],
        max_steps=job["steps"], learning_rate=job["lr"], lr_scheduler_type="linear",
        warmup_steps=0, max_length=job["max_length"], bf16=job["bf16"],
        gradient_checkpointing=job["gradient_checkpointing"], use_cpu=True, report_to="none",
        save_strategy="no", eval_strategy="no", logging_steps=10_000, seed=job["seed"],
        disable_tqdm=True, dataloader_num_workers=0, eos_token=job.get("eos_token"))
    trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    n_train = len(trainer.train_dataset)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    trainer.model.save_pretrained(job["out"] + "/model")
    scores = score(trainer.model, tok, job["eval"]) if job.get("eval") else None
    print(json.dumps({"seconds": seconds, "steps": trainer.state.global_step, "n_train": n_train,
                      "bf16": job["bf16"], "gradient_checkpointing": args.gradient_checkpointing,
                      "attention": model.config._attn_implementation,
                      "eval_scores": scores}))


def score(model, tok, path):
    """(chosen, rejected) rewards of the eval pairs, fed the way TRL trained on them:
    prompt + completion + EOS text, as one sequence."""
    import torch

    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    model.eval()
    out = []
    with torch.inference_mode():
        for r in rows:
            enc = tok([r["prompt"] + r[k] + tok.eos_token for k in ("chosen", "rejected")],
                      padding=True, return_tensors="pt")
            out.append(model(**enc).logits[:, 0].float().tolist())
    return out


if __name__ == "__main__":
    main()
