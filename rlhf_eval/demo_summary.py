"""What the demo found, read back from the files its stages wrote.

``headline(out)`` collects the figures a user judges the run by (gold and RM-score gains of the
last checkpoint over the SFT policy with paired bootstrap intervals, KL, the RM's held-out
accuracy beside the best any RM can reach, which metric agrees best with human ratings) and
writes the full tables to ``out/summary.json`` and ``out/curve.csv`` (gold, RM score and KL per
checkpoint: the proxy/gold picture). ``render(h)`` turns them into the short terminal summary.
Nothing here trains or scores anything: every number comes from a stage's output.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# a system-level correlation over fewer systems than this has an interval spanning most of
# [-1, 1] (3 systems: Kendall tau can only be -1, -1/3, 1/3 or 1), so it is not reported
MIN_SYSTEMS = 5
CURVE_METRICS = ("gold", "reward", "kl")
# a checkpoint whose completions are mostly empty has stopped writing: its gold (an empty summary
# scores 0) and its KL (the stop token is not a completion token) look good while the policy has
# degenerated, so the summary says so instead of celebrating the gain
DEGENERATE_EMPTY_SHARE = 0.5
# aspects the terminal summary names (all of them are in the correlation files): the lab's
# overall Likert rating and its gold reward; SummEval's four expert aspects
SHOWN_ASPECTS = {"lab": ("overall", "gold")}


def _paired(diffs, seed: int = 0) -> dict[str, float]:
    import numpy as np

    from .stats import paired_bootstrap_ci

    lo, hi = paired_bootstrap_ci(np.asarray(diffs, dtype=float), seed=seed)
    return {"mean": float(np.mean(diffs)), "ci_low": lo, "ci_high": hi}


def checkpoint_curve(store_path: Path, seed: int = 0) -> list[dict[str, Any]]:
    """Per checkpoint (the baseline as step 0): mean gold, RM score and KL, and the paired
    gains of gold and RM score over the baseline on the same prompts."""
    from .store import ResultsStore

    store = ResultsStore(store_path, readonly=True)
    try:
        scores = store.scores_frame()
        cks = store.checkpoints().sort_values("step")
        gens = store.generations()
    finally:
        store.close()
    by_ck = gens.groupby("checkpoint")
    scores = scores[scores["metric"].isin(CURVE_METRICS)]
    wide = scores.pivot_table(index=["checkpoint", "sample_id"], columns="metric",
                              values="value")
    base_name = cks.loc[cks["is_baseline"] == 1, "checkpoint"]
    if base_name.empty:
        return []
    base = wide.loc[base_name.iloc[0]]
    rows = []
    for _, ck in cks[cks["kind"] != "references"].iterrows():
        if ck["checkpoint"] not in wide.index.get_level_values(0):
            continue
        own = wide.loc[ck["checkpoint"]]
        row = {"checkpoint": ck["checkpoint"], "step": 0 if ck["is_baseline"] else
               int(ck["step"]), "n": int(len(own))}
        for metric in CURVE_METRICS:
            if metric in own:
                row[metric] = float(own[metric].mean())
        if ck["checkpoint"] in by_ck.groups:   # what the policy writes, not only its scores
            g = by_ck.get_group(ck["checkpoint"])
            row["tokens"] = float(g["n_tokens"].mean())
            row["empty_share"] = float((g["completion"].str.strip() == "").mean())
        for metric in ("gold", "reward"):
            if metric in own and metric in base:
                shared = own.index.intersection(base.index)
                gain = _paired(own.loc[shared, metric] - base.loc[shared, metric], seed)
                row.update({f"{metric}_gain": gain["mean"], f"{metric}_gain_low":
                            gain["ci_low"], f"{metric}_gain_high": gain["ci_high"]})
        rows.append(row)
    return sorted(rows, key=lambda r: r["step"])


def rm_accuracy(rm_dir: Path, eval_pairs: Path) -> dict[str, Any] | None:
    """The RM's final held-out accuracy (train-rm's metrics.jsonl) beside the best any RM can
    reach on those pairs given the annotators' noise (``rm_ceilings``)."""
    from .lab import rm_ceilings
    from .rm.data import read_pairs

    metrics = rm_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    evals = [r for r in map(json.loads, metrics.read_text().splitlines()) if
             r.get("event") == "eval"]
    if not evals:
        return None
    out = {"accuracy": evals[-1].get("accuracy"), "n_pairs": evals[-1].get("n_pairs"),
           "pairs": str(eval_pairs)}
    if eval_pairs.is_file():
        pairs, _ = read_pairs(str(eval_pairs))
        out["best_possible"] = rm_ceilings(pairs)["label"]
    return out


def best_metrics(corr_dir: Path) -> dict[str, Any] | None:
    """The metric with the highest correlation with each human aspect's ratings, at the
    summary level (Kendall tau, per input across systems, then averaged) when present."""
    path = corr_dir / "correlations.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    rows = doc.get("correlations") or []
    meta = doc.get("meta", {})
    pick = None
    for level in ("summary", "system", "sample"):
        for method in ("kendall", "spearman", "pearson"):
            cand = [r for r in rows if r.get("level") == level and r.get("method") == method]
            if cand:
                pick = cand
                break
        if pick:
            break
    if not pick:
        return None
    by_aspect: dict[str, dict] = {}
    for r in pick:
        value = r.get("value")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        cur = by_aspect.get(r["aspect"])
        if cur is None or value > cur["value"]:
            by_aspect[r["aspect"]] = r
    return {"n_systems": meta.get("n_systems"), "levels": meta.get("levels"),
            "best": {a: {k: r.get(k) for k in ("metric", "level", "method", "value", "ci_low",
                                                "ci_high")}
                     for a, r in sorted(by_aspect.items())}}


def headline(out: Path, *, run: Path, rm_dir: Path, rm_eval_pairs: Path, corr: dict[str, Path],
             gate: dict | None = None) -> dict[str, Any]:
    """Everything the summary shows; also written to ``out/summary.json`` and
    ``out/curve.csv``."""
    from .io import atomic_write_text

    curve = checkpoint_curve(run / "results.sqlite") if (run / "results.sqlite").is_file() \
        else []
    h: dict[str, Any] = {"curve": curve, "rm": rm_accuracy(rm_dir, rm_eval_pairs),
                         "correlations": {k: best_metrics(p) for k, p in corr.items()},
                         "gate": gate}
    if len(curve) > 1:
        h["final"] = curve[-1]
        h["baseline"] = curve[0]
    atomic_write_text(out / "summary.json", json.dumps(h, indent=1, default=str))
    if curve:
        cols = list(dict.fromkeys(k for row in curve for k in row))
        lines = [",".join(cols)] + [",".join("" if row.get(c) is None else str(row.get(c))
                                            for c in cols) for row in curve]
        atomic_write_text(out / "curve.csv", "\n".join(lines) + "\n")
    return h


def degeneration_warning(curve: list[dict]) -> list[str]:
    """Lines that say when trained checkpoints mostly write nothing (reward hacking)."""
    bad = [r for r in curve if r["step"] > 0
           and r.get("empty_share", 0.0) >= DEGENERATE_EMPTY_SHARE]
    if not bad:
        return []
    which = ", ".join(f"{r['checkpoint']} {r['empty_share']:.0%}" for r in bad)
    return [f"  WARNING: empty completions: {which}. The policy learned to stop at once: the RM "
            "scores an empty answer high, the gold reward scores it 0 and KL counts no token, "
            "so these gains are reward hacking, not better summaries."]


def _ci(d: dict, key: str, fmt: str = "+.3f") -> str:
    return (f"{d[key]:{fmt}} [{d[key + '_low']:{fmt}}, {d[key + '_high']:{fmt}}]"
            if key in d else "n/a")


def render(h: dict[str, Any], *, out: Path, run: Path, prompts_note: str = "") -> list[str]:
    """The terminal summary (at most ~25 lines); the full tables are in the files it names."""
    lines = []
    final, base = h.get("final"), h.get("baseline")
    if final and base:
        lines += [f"PPO vs the SFT policy, {final['checkpoint']} on {final['n']} held-out prompts"
                  f"{prompts_note} (paired bootstrap, 95% CI):",
                  f"  gold reward  {base.get('gold', float('nan')):.3f} -> "
                  f"{final.get('gold', float('nan')):.3f}   gain {_ci(final, 'gold_gain')}"
                  "   (the true objective; PPO never saw it)",
                  f"  RM score     {base.get('reward', float('nan')):.3f} -> "
                  f"{final.get('reward', float('nan')):.3f}   gain {_ci(final, 'reward_gain')}"
                  "   (the proxy PPO maximised)",
                  f"  KL to SFT    {final.get('kl', float('nan')):.2f} nats per completion"]
        steps = "  ".join(f"{r['step']}: {r.get('gold', float('nan')):.3f}/"
                          f"{r.get('reward', float('nan')):.2f}/{r.get('kl', float('nan')):.1f}"
                          for r in h["curve"])
        lines.append(f"  by step, gold/RM/KL  {steps}")
        lines += degeneration_warning(h["curve"])
    else:
        lines.append("No trained checkpoint was evaluated: no PPO gain to show.")
    rm = h.get("rm")
    if rm and rm.get("accuracy") is not None:
        best = (f", best possible {rm['best_possible']:.3f} given the annotators' noise"
                if rm.get("best_possible") is not None else "")
        lines.append(f"Reward model: accuracy {rm['accuracy']:.3f} on {rm['n_pairs']} held-out "
                     f"on-policy pairs (chance 0.5{best})")
    names = {"lab": "the lab's ratings", "summeval": "SummEval's experts"}
    for key, c in h.get("correlations", {}).items():
        if not c or not c.get("best"):
            continue
        shown = SHOWN_ASPECTS.get(key) or tuple(c["best"])
        parts = [f"{aspect} {r['metric']} {r['value']:.2f} [{r['ci_low']:.2f}, "
                 f"{r['ci_high']:.2f}]" for aspect, r in c["best"].items() if aspect in shown]
        r0 = next(iter(c["best"].values()))
        lines.append(f"Best metric vs {names.get(key, key)} ({r0['method']}, {r0['level']} "
                     f"level): " + "; ".join(parts))
        n_sys = c.get("n_systems")
        if n_sys is not None and n_sys < MIN_SYSTEMS and "system" not in (c.get("levels") or []):
            lines.append(f"  (no system level for {key}: {n_sys} systems give intervals "
                         f"spanning most of [-1, 1])")
    gate = h.get("gate")
    if gate:
        lines.append(f"Gate {gate['spec']}: {'PASS' if gate['passed'] else 'FAIL'} "
                     f"({gate['message']})")
    lines += [f"Files: report {run / 'report' / 'report.md'} (+ .html, .json, junit.xml); "
              f"curve {out / 'curve.csv'}; all figures {out / 'summary.json'}; "
              f"stage logs {out / 'logs'}/"]
    return lines
