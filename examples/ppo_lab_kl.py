"""Gold and proxy reward against KL, pooled over several ``examples/ppo_lab.py`` runs (e.g. a
sweep of --kl-coef): where does gold stop rising while the proxy keeps climbing?

    python examples/ppo_lab_kl.py runs/lab-ppo-kl0.05 runs/lab-ppo-kl0.02 runs/lab-ppo-kl0.01

Reads each run's ``eval_curve.csv`` (one row per checkpoint: mean gold, proxy and KL on the
same held-out prompts) and prints the checkpoints binned by KL, then the Spearman correlation
of KL and gold over the checkpoints from --min-step on (after the first, KL-building steps).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

BINS = (0.0, 0.5, 3.0, 4.5, 6.0, 8.0, 10.0, float("inf"))


def read_points(run_dirs) -> list[dict]:
    points = []
    for run in run_dirs:
        with open(Path(run) / "eval_curve.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                points.append({"run": str(run), "step": int(row["step"]),
                               "kl": float(row["kl"]), "gold": float(row["gold"]),
                               "proxy": float(row["proxy"])})
    return points


def by_kl(points, bins=BINS) -> list[dict]:
    out = []
    for lo, hi in zip(bins, bins[1:]):
        sel = [p for p in points if lo <= p["kl"] < hi]
        if sel:
            out.append({"kl_low": lo, "kl_high": hi, "checkpoints": len(sel),
                        "gold": float(np.mean([p["gold"] for p in sel])),
                        "proxy": float(np.mean([p["proxy"] for p in sel]))})
    return out


def main() -> None:
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders written by examples/ppo_lab.py")
    ap.add_argument("--min-step", type=int, default=100)
    args = ap.parse_args()
    points = read_points(args.runs)
    print(f"{'KL bin':>12s} {'checkpoints':>11s} {'gold':>7s} {'proxy':>7s}")
    for row in by_kl(points):
        print(f"[{row['kl_low']:4.1f}, {row['kl_high']:4.1f}) {row['checkpoints']:11d} "
              f"{row['gold']:7.3f} {row['proxy']:7.3f}")
    late = [p for p in points if p["step"] >= args.min_step]
    rho = spearmanr([p["kl"] for p in late], [p["gold"] for p in late])
    print(f"spearman(KL, gold) over {len(late)} checkpoints from step {args.min_step}: "
          f"{rho.statistic:.2f} (p = {rho.pvalue:.1g})")


if __name__ == "__main__":
    main()
