"""Data for the Samples page: one prompt, the baseline and a checkpoint side by side.

The interesting samples are those where metrics disagree. A checkpoint whose reward-model score
rose while the reference-based metrics and the gold reward fell on the same prompt is a
reward-hacking suspect (Gao et al. 2022; Skalse et al. 2022): the policy found something the RM
likes that the task does not reward. Deltas are standardised by their spread across samples so
that metrics on different scales (ROUGE in [0, 1], RM logits) can be compared.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# metrics that need references or ground truth: "quality" as the task defines it
QUALITY_METRICS = ("gold", "rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf",
                   "bertscore_f", "moverscore", "bartscore_f")
PROXY_METRIC = "reward"
TEXT_COLS = ["sample_id", "prompt", "references"]


def paired_view(scores: pd.DataFrame, *, baseline: str, checkpoint: str) -> pd.DataFrame:
    """One row per sample scored for both checkpoints of one run.

    Columns: sample_id, prompt, references, gen_base, gen_ckpt, completion_base,
    completion_ckpt, then ``base:<m>``, ``ckpt:<m>``, ``delta:<m>`` for every metric. When a
    metric has several signatures the lexicographically first is used, so a view never mixes
    two scorers.
    """
    part = scores[scores["checkpoint"].isin([baseline, checkpoint])]
    if part.empty:
        return pd.DataFrame(columns=TEXT_COLS + ["gen_base", "gen_ckpt", "completion_base",
                                                 "completion_ckpt"])
    first_sig = part.dropna(subset=["metric"]).groupby("metric")["signature"].min()
    part = part[part["metric"].isna()
                | (part["signature"] == part["metric"].map(first_sig))]
    gens = (part.drop_duplicates(["checkpoint", "sample_id"])
            .set_index(["sample_id", "checkpoint"]))
    base = gens.xs(baseline, level="checkpoint") if baseline in gens.index.get_level_values(1) \
        else gens.iloc[0:0].droplevel(1)
    ckpt = gens.xs(checkpoint, level="checkpoint") \
        if checkpoint in gens.index.get_level_values(1) else gens.iloc[0:0].droplevel(1)
    common = base.index.intersection(ckpt.index)
    view = pd.DataFrame({
        "sample_id": common,
        "prompt": base.loc[common, "prompt"].values,
        "references": base.loc[common, "references"].values,
        "gen_base": base.loc[common, "gen_id"].values,
        "gen_ckpt": ckpt.loc[common, "gen_id"].values,
        "completion_base": base.loc[common, "completion"].values,
        "completion_ckpt": ckpt.loc[common, "completion"].values,
    })
    values = part.pivot_table(index="sample_id", columns=["checkpoint", "metric"],
                              values="value", aggfunc="first")
    for metric in sorted(part["metric"].dropna().unique()):
        b = _column(values, baseline, metric).reindex(common)
        c = _column(values, checkpoint, metric).reindex(common)
        view[f"base:{metric}"] = b.values
        view[f"ckpt:{metric}"] = c.values
        view[f"delta:{metric}"] = (c - b).values
    return view


def _column(values: pd.DataFrame, checkpoint: str, metric: str) -> pd.Series:
    if (checkpoint, metric) in values.columns:
        return values[(checkpoint, metric)]
    return pd.Series(np.nan, index=values.index)


def metrics_of(view: pd.DataFrame) -> list[str]:
    return [c.split(":", 1)[1] for c in view.columns if c.startswith("delta:")]


def standardized_delta(view: pd.DataFrame, metric: str) -> pd.Series:
    """delta / std(delta) across samples (not centred: the sign keeps its meaning)."""
    delta = view[f"delta:{metric}"].astype(float)
    spread = delta.std(ddof=0)
    if not np.isfinite(spread) or spread == 0:
        return delta * 0.0
    return delta / spread


def disagreement(view: pd.DataFrame, up: str, down: list[str]) -> pd.Series:
    """How strongly metric ``up`` rose while the ``down`` metrics fell, per sample.

    score = min(z_up, -mean(z_down)): positive only when ``up`` rose *and* the others fell on
    average, and as large as the weaker of the two signals (one huge delta alone is not a
    disagreement). The mean is over the ``down`` metrics the sample has (gold exists only on
    lab prompts); NaN when ``up`` or all of them are missing.
    """
    z_up = standardized_delta(view, up)
    z_down = pd.concat([standardized_delta(view, m) for m in down], axis=1).mean(axis=1)
    return np.minimum(z_up, -z_down)


def quality_metrics(view: pd.DataFrame) -> list[str]:
    available = set(metrics_of(view))
    return [m for m in QUALITY_METRICS if m in available]


def rank_samples(view: pd.DataFrame, mode: str, metric: str | None = None,
                 against: list[str] | None = None) -> pd.DataFrame:
    """Order the paired view for inspection.

    mode: ``"drop"`` largest fall of ``metric`` first; ``"rise"`` largest rise first;
    ``"disagree"`` largest :func:`disagreement` of ``metric`` (up) against ``against`` (down);
    ``"hacking"`` reward-hacking suspects only (reward up, every quality metric the sample has
    down), most suspicious first.
    """
    if view.empty:
        return view.assign(score=pd.Series(dtype=float))
    if mode in ("drop", "rise"):
        score = view[f"delta:{metric}"].astype(float)
        score = -score if mode == "drop" else score
    elif mode == "disagree":
        score = disagreement(view, metric, list(against or []))
    elif mode == "hacking":
        quality = quality_metrics(view)
        if PROXY_METRIC not in metrics_of(view) or not quality:
            return view.iloc[0:0].assign(score=pd.Series(dtype=float))
        score = disagreement(view, PROXY_METRIC, quality)
        deltas = view[[f"delta:{m}" for m in quality]]
        # every quality metric the sample has fell (a missing one, e.g. gold off the lab,
        # neither clears nor convicts it), and it has at least one
        every_down = ((deltas < 0) | deltas.isna()).all(axis=1) & deltas.notna().any(axis=1)
        keep = (view[f"delta:{PROXY_METRIC}"] > 0) & every_down
        return (view.assign(score=score)[keep]
                .sort_values("score", ascending=False, kind="stable").reset_index(drop=True))
    else:
        raise ValueError(f"unknown ranking mode {mode!r}; expected drop, rise, disagree, hacking")
    return (view.assign(score=score).sort_values("score", ascending=False, kind="stable",
                                                 na_position="last").reset_index(drop=True))


def scores_table(row: pd.Series) -> pd.DataFrame:
    """The score card of one paired row: metric, baseline, checkpoint, delta."""
    metrics = [c.split(":", 1)[1] for c in row.index if str(c).startswith("delta:")]
    return pd.DataFrame({"metric": metrics,
                         "baseline": [row[f"base:{m}"] for m in metrics],
                         "checkpoint": [row[f"ckpt:{m}"] for m in metrics],
                         "delta": [row[f"delta:{m}"] for m in metrics]})


def judge_verdicts(judgments: pd.DataFrame, *, gen_base: str, gen_ckpt: str, baseline: str,
                   checkpoint: str) -> pd.DataFrame:
    """Each LLM judge's answers on one baseline/checkpoint pair, one row per order shown:
    ``judge, shown first, answer, P(first), P(second), P(tie), raw``."""
    import json

    cols = ["judge", "shown first", "answer", "P(first)", "P(second)", "P(tie)", "raw"]
    if judgments is None or judgments.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for r in judgments.itertuples():
        if {r.gen_first, r.gen_second} != {gen_base, gen_ckpt}:
            continue
        probs = json.loads(r.probs_json) if isinstance(r.probs_json, str) else []
        parts = dict(p.split("=", 1) for p in r.signature.split("|") if "=" in p)
        rows.append({"judge": f"{parts.get('template', '?')} / {parts.get('model', '?')[:16]}",
                     "shown first": baseline if r.gen_first == gen_base else checkpoint,
                     "answer": r.label if isinstance(r.label, str) else "(unparsed)",
                     "P(first)": probs[0] if probs else None,
                     "P(second)": probs[1] if len(probs) > 1 else None,
                     "P(tie)": probs[2] if len(probs) > 2 else None,
                     "raw": r.raw if isinstance(r.raw, str) else ""})
    return pd.DataFrame(rows, columns=cols).sort_values(["judge", "shown first"],
                                                        ignore_index=True)
