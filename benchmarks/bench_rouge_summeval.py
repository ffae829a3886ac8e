"""ROUGE part of the SummEval meta-evaluation: ours vs rouge-score pair by pair.

1,600 system summaries x 11 references (17,600 pairs), rouge1/rouge2/rougeLsum with stemming,
per summary the best reference by F (rouge-score's ``score_multi`` rule) and the mean over
references. Peer: ``rouge_scorer.RougeScorer(types, use_stemmer=True).score(ref, hyp)`` for every
pair in one process (PEERS.md: about 38 s). Ours: ``get_metric("rouge", ...)`` built fresh for
every repeat (cold caches), with n_jobs=1 and n_jobs=2. The numbers must agree to 1e-9 (asserted).

    .venv/bin/python benchmarks/bench_rouge_summeval.py [--quick] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np


# ------------------------------------------------------------------------------------ helpers

ROOT = Path(__file__).resolve().parents[1]
SUMMEVAL = [ROOT / "data" / "summeval" / "summeval.json",
            ROOT.parent / "shared" / "data" / "summeval" / "summeval.json"]


def load_summeval() -> dict:
    for path in SUMMEVAL:
        if path.is_file():
            return json.loads(path.read_text())
    raise SystemExit("SummEval not found: expected data/summeval/summeval.json")


def timed(fn):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median(values) -> float:
    return float(statistics.median(values))

TYPES = ("rouge1", "rouge2", "rougeLsum")


def inputs(n_summaries: int | None):
    data = load_summeval()
    preds, refs = [], []
    for doc_id in sorted(data):
        for sys_id in sorted(data[doc_id]["sys_summs"]):
            preds.append(data[doc_id]["sys_summs"][sys_id]["sys_summ"])
            refs.append(list(data[doc_id]["ref_summs"]))
    return preds[:n_summaries], refs[:n_summaries]


def peer(preds, refs):
    """The plain loop a user writes: one RougeScorer, .score(ref, hyp) for every pair."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=True)
    best = {t: np.empty(len(preds)) for t in TYPES}
    mean = {t: np.empty(len(preds)) for t in TYPES}
    for i, (pred, rs) in enumerate(zip(preds, refs)):
        per = [scorer.score(r, pred) for r in rs]
        for t in TYPES:
            f = [s[t].fmeasure for s in per]
            best[t][i] = f[int(np.argmax(f))]
            mean[t][i] = float(np.mean(f))
    return best, mean


def ours(preds, refs, n_jobs: int):
    from rlhf_eval.evaluation.metrics import get_metric

    best = get_metric("rouge", rouge_types=TYPES, use_stemmer=True, multi_ref="max",
                      n_jobs=n_jobs).sentence_scores(predictions=preds, references=refs)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="first 200 summaries only")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    preds, refs = inputs(200 if args.quick else None)
    n_pairs = sum(map(len, refs))
    print(f"SummEval ROUGE: {len(preds)} summaries x {len(refs[0])} references = {n_pairs} "
          f"pairs, types {'/'.join(TYPES)}, stemming; {args.repeats} repeats; "
          f"os.cpu_count()={os.cpu_count()} (CPU shared with other jobs)")
    times = {"peer": [], "ours n_jobs=1": [], "ours n_jobs=2": []}
    for rep in range(args.repeats):
        t, (p_best, p_mean) = timed(lambda: peer(preds, refs))
        times["peer"].append(t)
        for n_jobs in (1, 2):
            t, o_best = timed(lambda: ours(preds, refs, n_jobs))
            times[f"ours n_jobs={n_jobs}"].append(t)
            for k in TYPES:
                diff = float(np.max(np.abs(o_best[k] - p_best[k])))
                assert diff <= 1e-9, f"{k}: ours differs from rouge-score by {diff}"
        print(f"  repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
              flush=True)
    # the mean-over-references aggregation, checked once
    from rlhf_eval.evaluation.metrics import get_metric

    o_mean = get_metric("rouge", rouge_types=TYPES, multi_ref="mean").sentence_scores(
        predictions=preds, references=refs)
    assert all(np.max(np.abs(o_mean[k] - p_mean[k])) <= 1e-9 for k in TYPES)
    print("equal to rouge-score to 1e-9 (max and mean over references): yes")
    for k, v in times.items():
        print(f"median {k}: {median(v):.2f} s  (pairs/s {n_pairs / median(v):,.0f})")
    peer_s = median(times["peer"])
    print(f"ratio ours(n_jobs=2) vs peer: {peer_s / median(times['ours n_jobs=2']):.1f}x")
    print(f"ratio ours(n_jobs=1) vs rouge-score pair-by-pair: "
          f"{peer_s / median(times['ours n_jobs=1']):.1f}x")


if __name__ == "__main__":
    main()
