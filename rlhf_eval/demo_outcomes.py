"""One line per finished demo stage: what it did, read back from the files it wrote."""
from __future__ import annotations

import json
from pathlib import Path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _lab(out: Path) -> str:
    counts = {k.removesuffix(".jsonl"): v for k, v in
              json.loads((out / "lab" / "lab.json").read_text())["counts"].items()}
    return (f"{counts.get('prompts_train')} train / {counts.get('prompts_eval')} eval prompts, "
            f"{counts.get('sft')} SFT references, {counts.get('pairs')} annotator pairs, "
            f"{counts.get('ratings')} ratings")


def _sft(out: Path) -> str:
    ev = json.loads((out / "sft" / "sft_eval.json").read_text())
    mean = ev["mean"]
    parts = []
    for key in ("gold", "rougeL"):
        before, after = (mean.get(side, {}).get(key) for side in ("untrained", "sft"))
        if before is not None and after is not None:
            parts.append(f"{key} {before:.3f} -> {after:.3f}")
    return "greedy on the eval prompts, untrained -> trained: " + ", ".join(parts)


def _pairs(path: Path) -> str:
    rows = _jsonl(path)
    agree = [r["meta"]["gold_chosen"] > r["meta"]["gold_rejected"] for r in rows
             if "gold_chosen" in r.get("meta", {})]
    share = f"; the label agrees with gold on {sum(agree) / len(agree):.0%}" if agree else ""
    return f"{len(rows)} labelled pairs of the policy's samples{share}"


def _rm(out: Path) -> str:
    evals = [r for r in _jsonl(out / "rm" / "metrics.jsonl") if r.get("event") == "eval"]
    last = evals[-1]
    return f"held-out accuracy {last['accuracy']:.3f} on {last['n_pairs']} on-policy pairs"


def _ppo(out: Path) -> str:
    rows = _jsonl(out / "ppo" / "metrics.jsonl")
    first, last = rows[0], rows[-1]
    gold = (f", gold {first['objective/gold']:.3f} -> {last['objective/gold']:.3f}"
            if "objective/gold" in last else "")
    return (f"{last['step']} steps; on the training rollouts RM score "
            f"{first['objective/rm_score']:.3f} -> {last['objective/rm_score']:.3f}, "
            f"KL {last['objective/kl']:.2f}{gold}")


def _eval(out: Path) -> str:
    from .store import ResultsStore

    store = ResultsStore(out / "ppo" / "results.sqlite", readonly=True)
    try:
        cks = store.checkpoints()
        n = store.count("scores")
    finally:
        store.close()
    return f"{len(cks)} checkpoints (baseline and references included), {n} scores"


def _correlate(path: Path) -> str:
    doc = json.loads(path.read_text())
    meta = doc["meta"]
    return (f"{len(meta['metrics'])} metrics x {len(meta['aspects'])} aspects on "
            f"{meta['n_inputs']} inputs x {meta['n_systems']} systems")


def _report(out: Path) -> str:
    doc = json.loads((out / "ppo" / "report" / "report.json").read_text())
    gates = doc.get("gates") or []
    return "; ".join(f"{'PASS' if g['passed'] else 'FAIL'} {g['gate']}" for g in gates) or \
        "no gates"


def describe(name: str, stage, cfg) -> str:
    out = cfg.out
    readers = {
        "lab": lambda: _lab(out), "sft": lambda: _sft(out),
        "collect": lambda: _pairs(stage.output), "collect-eval": lambda: _pairs(stage.output),
        "rm": lambda: _rm(out), "ppo": lambda: _ppo(out), "eval": lambda: _eval(out),
        "correlate-lab": lambda: _correlate(stage.output),
        "correlate-summeval": lambda: _correlate(stage.output), "report": lambda: _report(out),
    }
    return readers[name]() if name in readers else ""
