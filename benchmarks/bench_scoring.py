"""Scoring 4 checkpoints x 500 samples: ROUGE + BLEU/chrF + BERTScore, ours vs the plain loop.

Data (SummEval, real system outputs and references): 100 documents x 5 samples per document =
500 samples per "checkpoint", every sample scored against its document's 11 references.
Checkpoint k's 5 samples for a document are the summaries of systems (4k + s) mod 16, s = 0..4
(systems in sorted id order), so adjacent checkpoints share one system: 1 output in 5 repeats
an earlier checkpoint's, as unchanged outputs do between real checkpoints. Both sides see the
same data; ours embeds a repeated text once, bert_score re-embeds it in every call.

Peer, the straightforward user loop, per checkpoint: ``RougeScorer(rouge1/2/L/Lsum,
use_stemmer=True).score_multi(refs, pred)`` per sample; ``sacrebleu.sentence_bleu`` /
``sentence_chrf`` per sample plus ``corpus_bleu`` / ``corpus_chrf``;
``bert_score.score(preds, refs, model_type=<MiniLM>, num_layers=6)``.
Ours: ``score_many([rouge, bleu, chrf, bertscore], predictions={ckpt: preds}, references=refs)``
plus ``corpus_score`` for BLEU/chrF, with the model and every cache dropped before each repeat.
Same numbers asserted (ROUGE/BLEU/chrF to 1e-9, BERTScore to 1e-6, fp32). A third timing per
repeat runs ours with ``bertscore dtype="bf16"`` (not the same numbers): its ratio is printed with
the largest BERTScore difference from the fp32 peer, the error that speed costs.

    .venv/bin/python benchmarks/bench_scoring.py [--quick] [--repeats 3]
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

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
N_CKPT, PER_DOC = 4, 5


def build(n_docs: int):
    data = load_summeval()
    docs = sorted(data)[:n_docs]
    systems = sorted(data[docs[0]]["sys_summs"])
    refs = [list(data[d]["ref_summs"]) for d in docs for _ in range(PER_DOC)]
    ckpts = {f"checkpoint-{k}": [data[d]["sys_summs"][systems[(4 * k + s) % len(systems)]]
                                 ["sys_summ"] for d in docs for s in range(PER_DOC)]
             for k in range(N_CKPT)}
    return ckpts, refs


def streams(refs):
    return [[r[j] for r in refs] for j in range(len(refs[0]))]


def peer(ckpts, refs, minilm):
    import bert_score
    import sacrebleu
    from rouge_score import rouge_scorer

    out = {}
    for name, preds in ckpts.items():
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
        res = {t: [] for t in ROUGE_TYPES}
        for p, rs in zip(preds, refs):
            best = scorer.score_multi(rs, p)
            for t in ROUGE_TYPES:
                res[t].append(best[t].fmeasure)
        res["bleu"] = [sacrebleu.sentence_bleu(p, rs).score for p, rs in zip(preds, refs)]
        res["chrf"] = [sacrebleu.sentence_chrf(p, rs).score for p, rs in zip(preds, refs)]
        res["corpus_bleu"] = sacrebleu.corpus_bleu(preds, streams(refs)).score
        res["corpus_chrf"] = sacrebleu.corpus_chrf(preds, streams(refs)).score
        P, R, F = bert_score.score(preds, refs, model_type=minilm, num_layers=6)
        res.update(bertscore_p=P.numpy(), bertscore_r=R.numpy(), bertscore_f=F.numpy())
        out[name] = {k: np.asarray(v, dtype=np.float64) for k, v in res.items()}
    return out


def ours(ckpts, refs, minilm, dtype: str = "fp32"):
    from rlhf_eval.evaluation.metrics import get_metric, score_many
    from rlhf_eval.evaluation.metrics.bertscore import clear_cache

    clear_cache()  # cold start: model loaded and every text embedded inside the timing
    rouge = get_metric("rouge", rouge_types=ROUGE_TYPES, use_stemmer=True, multi_ref="max")
    bleu, chrf = get_metric("bleu"), get_metric("chrf")
    bert = get_metric("bertscore", model_type=minilm, num_layers=6, dtype=dtype)
    out = score_many([rouge, bleu, chrf, bert], predictions=ckpts, references=refs)
    for name, preds in ckpts.items():
        out[name]["corpus_bleu"] = bleu.corpus_score(predictions=preds, references=refs)["bleu"]
        out[name]["corpus_chrf"] = chrf.corpus_score(predictions=preds, references=refs)["chrf"]
    return out


def max_bertscore_diff(a, b) -> float:
    """Largest |a - b| over every checkpoint's BERTScore P, R and F."""
    return max(float(np.max(np.abs(np.asarray(a[ck][k]) - np.asarray(b[ck][k]))))
               for ck in a for k in ("bertscore_p", "bertscore_r", "bertscore_f"))


def check_equal(a, b) -> None:
    for ck in a:
        for k, v in a[ck].items():
            tol = 1e-6 if k.startswith("bertscore") else 1e-9
            diff = float(np.max(np.abs(np.asarray(v) - np.asarray(b[ck][k]))))
            assert diff <= tol, f"{ck} {k}: ours differs from the peer by {diff}"


def main() -> None:
    from rlhf_eval.models import minilm_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 documents (50 samples/checkpoint)")
    ap.add_argument("--docs", type=int, default=None,
                    help="number of documents (default 100, i.e. 500 samples/checkpoint)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ckpts, refs = build(args.docs or (10 if args.quick else 100))
    minilm = minilm_path()
    n = len(refs)
    print(f"{N_CKPT} checkpoints x {n} samples x {len(refs[0])} references; ROUGE-1/2/L/Lsum, "
          f"BLEU, chrF, BERTScore (MiniLM L6, fp32); {args.repeats} repeats; "
          f"os.cpu_count()={os.cpu_count()} (CPU shared with other jobs)", flush=True)
    t_peer, t_ours, t_bf16, bf16_diff = [], [], [], 0.0
    for rep in range(args.repeats):  # peer, ours, ours-bf16 alternate: load drift hits all
        t, p = timed(lambda: peer(ckpts, refs, minilm))
        t_peer.append(t)
        t, o = timed(lambda: ours(ckpts, refs, minilm))
        t_ours.append(t)
        check_equal(o, p)
        t, b = timed(lambda: ours(ckpts, refs, minilm, dtype="bf16"))
        t_bf16.append(t)
        bf16_diff = max(bf16_diff, max_bertscore_diff(b, p))
        print(f"  repeat {rep + 1}: peer {t_peer[-1]:.1f}s, ours {t_ours[-1]:.1f}s, ours bf16 "
              f"{t_bf16[-1]:.1f}s; load {os.getloadavg()[0]:.1f}", flush=True)
    print("same scores (ROUGE/BLEU/chrF 1e-9, BERTScore 1e-6): yes")
    print(f"median peer: {median(t_peer):.1f} s; median ours fp32: {median(t_ours):.1f} s; "
          f"median ours bf16: {median(t_bf16):.1f} s")
    print(f"ratio ours bf16 vs plain loop: {median(t_peer) / median(t_bf16):.1f}x "
          f"(BERTScore P/R/F differ from fp32 by up to {bf16_diff:.1e})")
    print(f"ratio ours vs plain loop (rouge-score + sacrebleu + bert_score.score per "
          f"checkpoint), fp32-equal scores: {median(t_peer) / median(t_ours):.1f}x")


if __name__ == "__main__":
    main()
