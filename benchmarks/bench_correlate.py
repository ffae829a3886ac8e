"""Bootstrap intervals of `rlhf-eval correlate --summeval --metrics rouge`: ours vs today's loop.

The statistics part of the command (everything after the ROUGE scores are in the table): 4 ROUGE
columns x 4 SummEval aspects x 3 levels x 3 methods, each with a 1,000-resample BOOT-BOTH
percentile interval (the command's defaults).

Peer, the implementation before this benchmark was written (kept here, verbatim in what it
computes): every resample materialises the resampled (inputs x systems) grid, in chunks of 100,
and recomputes each level on it (`bootstrap_level` + `level_correlation`; Kendall at the sample
level calls scipy once per resample). Ours: `correlate_grid`, which computes each statistic on
the resample's multiplicities (`bootstrap_correlation`). Same draws (same seed); the tables are
asserted equal (1e-12). Peer and ours alternate, `--repeats` times; the ROUGE scores are
computed once before timing (cached under benchmarks/results/, ~6 s on a quiet machine).

    .venv/bin/python benchmarks/bench_correlate.py [--repeats 3] [--n-resamples 1000]
    .venv/bin/python benchmarks/bench_correlate.py --quick        # 200 resamples

The last line printed is the ratio (peer seconds / ours).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def peer_correlate_grid(grid, metrics, aspects, config) -> pd.DataFrame:
    """correlate_grid as it was: one materialised resampled grid per resample."""
    from rlhf_eval.evaluation.correlation import bootstrap_level, correlation, level_correlation
    from rlhf_eval.stats import percentile_interval

    rows = []
    for aspect in aspects:
        y = grid.column(aspect)
        for metric in metrics:
            x = grid.column(metric)
            for level in config.levels:
                for method in config.methods:
                    value, n, skipped = correlation(x, y, level=level, method=method,
                                                    metric=metric, aspect=aspect)
                    samples = bootstrap_level(
                        [x, y], lambda bx, by: level_correlation(
                            bx, by, level=level, method=method).value,
                        resample=config.resample, n_resamples=config.n_resamples,
                        seed=config.seed)
                    low, high, n_valid = percentile_interval(samples, config.confidence)
                    rows.append({"metric": metric, "aspect": aspect, "level": level,
                                 "method": method, "value": value, "ci_low": low,
                                 "ci_high": high, "n": n, "n_skipped": skipped,
                                 "resample": config.resample,
                                 "n_resamples": config.n_resamples,
                                 "n_resamples_valid": n_valid, "seed": config.seed,
                                 "confidence": config.confidence})
    return pd.DataFrame(rows)


def summeval_grid():
    """The grid `correlate --summeval --metrics rouge` builds (ROUGE with punkt sentences)."""
    from rlhf_eval.evaluation import correlation as corr
    from rlhf_eval.evaluation import correlation_inputs as ci

    table = ci.summeval_table(None)
    spec = ci.TableSpec(ci.SUMMEVAL_SPEC.id_col, ci.SUMMEVAL_SPEC.system_col,
                        ci.SUMMEVAL_SPEC.output_col, ci.SUMMEVAL_SPEC.refs_col,
                        ci.SUMMEVAL_SPEC.prompt_col, tuple(ci.SUMMEVAL_ASPECTS))
    start = time.perf_counter()
    table, signatures = ci.add_metric_scores(
        table, ["rouge"], spec, multi_ref="mean",
        cache_dir=str(ROOT / "benchmarks" / "results" / "correlate-cache"),
        metric_options={"rouge": {"split": "punkt"}})
    seconds = time.perf_counter() - start
    metrics, aspects = list(signatures), list(ci.SUMMEVAL_ASPECTS)
    grid = corr.grid_from_table(table, id_col=spec.id_col, system_col=spec.system_col,
                                value_cols=[*metrics, *aspects])
    return grid, metrics, aspects, seconds


def check_equal(ours: pd.DataFrame, peer: pd.DataFrame) -> float:
    assert list(ours.columns) == list(peer.columns)
    worst = 0.0
    for col in ours.columns:
        a, b = ours[col].to_numpy(), peer[col].to_numpy()
        if a.dtype.kind == "f":
            d = float(np.max(np.abs(a - b)))
            assert d <= 1e-12, f"column {col}: ours differs from the peer by {d}"
            worst = max(worst, d)
        else:
            assert (a == b).all(), f"column {col} differs"
    return worst


def main() -> None:
    from rlhf_eval.evaluation.correlation import CorrelationConfig, correlate_grid

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="200 resamples")
    args = ap.parse_args()
    n_res = 200 if args.quick else args.n_resamples
    grid, metrics, aspects, t_scores = summeval_grid()
    config = CorrelationConfig(n_resamples=n_res)
    cells = len(metrics) * len(aspects) * len(config.levels) * len(config.methods)
    print(f"SummEval {len(grid.inputs)} inputs x {len(grid.systems)} systems; {len(metrics)} "
          f"ROUGE columns x {len(aspects)} aspects x {len(config.levels)} levels x "
          f"{len(config.methods)} methods = {cells} intervals, {n_res} BOOT-BOTH resamples "
          f"each; ROUGE scores {t_scores:.1f} s (not timed below); OMP threads "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}", flush=True)
    t_peer, t_ours, c_peer, c_ours = [], [], [], []
    for rep in range(args.repeats):  # alternate so load drift hits both alike
        start, cpu = time.perf_counter(), time.process_time()
        peer = peer_correlate_grid(grid, metrics, aspects, config)
        t_peer.append(time.perf_counter() - start)
        c_peer.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        ours = correlate_grid(grid, metrics, aspects, config)
        t_ours.append(time.perf_counter() - start)
        c_ours.append(time.process_time() - cpu)
        worst = check_equal(ours, peer)
        print(f"  repeat {rep + 1}: peer {t_peer[-1]:.1f} s, ours {t_ours[-1]:.2f} s "
              f"(CPU {c_peer[-1]:.1f} / {c_ours[-1]:.2f} s; max |diff| {worst:.1e}); "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    p, o = statistics.median(t_peer), statistics.median(t_ours)
    # on a loaded machine the process's CPU seconds say what the wall clock cannot
    print(f"same table (1e-12): yes; median peer {p:.1f} s, median ours {o:.2f} s; CPU-time "
          f"ratio {statistics.median(c_peer) / statistics.median(c_ours):.1f}x; load averages "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"ratio ours vs the per-resample loop: {p / o:.1f}x")


if __name__ == "__main__":
    main()
