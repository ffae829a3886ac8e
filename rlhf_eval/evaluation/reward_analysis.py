"""How good is a reward model? Accuracy, calibration, length bias, agreement, distributions.

Everything here is a pure function of the rewards of the chosen and rejected side of each pair
(``r_chosen``, ``r_rejected``: arrays of shape (N,)) and the pairs themselves, so the dashboard
and tests can call it without a model. :func:`analyze_reward_model` bundles it all into a
:class:`RewardAnalysis` with a tidy table (:meth:`RewardAnalysis.table`) and a JSON dict.

Conventions:
- accuracy: ``r_chosen > r_rejected``; a tie counts as wrong (RewardBench, Lambert et al. 2024);
- intervals: seeded percentile bootstrap over pairs (:func:`rlhf_eval.stats.bootstrap_ci`);
- sections: RewardBench's section score is the example-weighted mean of its subsets' accuracies,
  i.e. the pooled accuracy over the section's pairs; we also give the unweighted subset mean;
- calibration: P(chosen > rejected) = sigma(r_c - r_r) (the Bradley-Terry model the RM was
  trained under). Every pair is seen from the side the RM prefers: confidence
  q = max(p, 1 - p) in [0.5, 1], correct = the preferred side is the chosen one. Reliability table
  over equal-width confidence bins; ECE = sum_b (n_b / N) |acc_b - conf_b| (Guo et al. 2017);
- length: in characters of the completion (tokenizer-independent). The "longer answer"
  baseline picks the longer side; equal lengths count as wrong, like ties.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from ..schema import PreferencePair
from ..stats import bootstrap_ci


def _check(r_chosen, r_rejected) -> tuple[np.ndarray, np.ndarray]:
    r_c = np.asarray(r_chosen, dtype=np.float64)
    r_r = np.asarray(r_rejected, dtype=np.float64)
    if r_c.shape != r_r.shape or r_c.ndim != 1:
        raise DataError(f"expected two 1-D reward arrays of equal length, found {r_c.shape} and "
                        f"{r_r.shape}")
    if r_c.size == 0:
        raise DataError("no pairs to analyse")
    bad = ~(np.isfinite(r_c) & np.isfinite(r_r))
    if bad.any():
        raise DataError(f"{int(bad.sum())} pair(s) have a non-finite reward (first at index "
                        f"{int(np.flatnonzero(bad)[0])}); refusing to analyse NaN scores")
    return r_c, r_r


def correct(r_chosen, r_rejected) -> np.ndarray:
    """Per pair: 1.0 when the RM ranks chosen strictly above rejected (a tie is wrong)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    return (r_c > r_r).astype(np.float64)


def accuracy_ci(hits: np.ndarray, *, seed: int = 0, n_resamples: int = 1000,
                confidence: float = 0.95) -> dict[str, float]:
    hits = np.asarray(hits, dtype=np.float64)
    ci = bootstrap_ci(hits, n_resamples=n_resamples, seed=seed, confidence=confidence)
    return {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "n": int(hits.size)}


def sigmoid(x: np.ndarray) -> np.ndarray:
    # the two branches avoid exp overflow for large |x|
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def calibration(r_chosen, r_rejected, *, n_bins: int = 10) -> dict[str, Any]:
    """Reliability table over confidence bins in [0.5, 1] and the expected calibration error."""
    r_c, r_r = _check(r_chosen, r_rejected)
    p = sigmoid(r_c - r_r)
    conf = np.maximum(p, 1.0 - p)
    right = np.where(p > 0.5, 1.0, 0.0)  # preferred side is chosen; p == 0.5 (tie) is wrong
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    rows, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        row = {"bin_low": float(edges[b]), "bin_high": float(edges[b + 1]), "n": n,
               "confidence": float(conf[sel].mean()) if n else None,
               "accuracy": float(right[sel].mean()) if n else None}
        if n:
            ece += n / conf.size * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {"ece": float(ece), "mean_confidence": float(conf.mean()),
            "brier": float(np.mean((p - 1.0) ** 2)), "bins": rows}


def _corr(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    from scipy import stats

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": None, "spearman": None}
    return {"pearson": float(stats.pearsonr(x, y).statistic),
            "spearman": float(stats.spearmanr(x, y).statistic)}


def length_bias(r_chosen, r_rejected, len_chosen, len_rejected, *, seed: int = 0,
                n_resamples: int = 1000) -> dict[str, Any]:
    """Correlation of reward with length, accuracy split by which side is longer, and the
    always-pick-the-longer-answer baseline (with the same bootstrap seed as the RM)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    l_c = np.asarray(len_chosen, dtype=np.float64)
    l_r = np.asarray(len_rejected, dtype=np.float64)
    hits = (r_c > r_r).astype(np.float64)
    longer = l_c > l_r
    shorter = l_c < l_r
    out: dict[str, Any] = {
        "corr_reward_length": _corr(np.concatenate([l_c, l_r]), np.concatenate([r_c, r_r])),
        "corr_margin_length_diff": _corr(l_c - l_r, r_c - r_r),
        "chosen_longer_fraction": float(longer.mean()),
        "longer_baseline": accuracy_ci(longer.astype(np.float64), seed=seed,
                                       n_resamples=n_resamples),
        "rm_prefers_longer_fraction": float(np.mean(np.where(r_c > r_r, l_c > l_r, l_r > l_c))),
    }
    for name, sel in (("accuracy_chosen_longer", longer), ("accuracy_chosen_shorter", shorter)):
        out[name] = (accuracy_ci(hits[sel], seed=seed, n_resamples=n_resamples)
                     if sel.any() else {"value": None, "ci_low": None, "ci_high": None, "n": 0})
    return out


def distribution(values: np.ndarray, *, edges: np.ndarray) -> dict[str, Any]:
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    counts, _ = np.histogram(values, bins=edges)
    return {"mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max()),
            "quantiles": dict(zip(["q05", "q25", "q50", "q75", "q95"], map(float, q))),
            "histogram": counts.tolist()}


def _group_accuracy(hits, labels, *, seed, n_resamples) -> dict[str, dict]:
    out = {}
    for label in sorted(set(labels)):
        sel = np.array([lab == label for lab in labels])
        out[str(label)] = accuracy_ci(hits[sel], seed=seed, n_resamples=n_resamples)
    return out


def section_scores(hits: np.ndarray, categories: Sequence, subsets: Sequence) -> dict[str, dict]:
    """RewardBench-style: per category, the example-weighted mean of its subsets' accuracies
    (= pooled accuracy) and the plain mean of the subset accuracies."""
    out = {}
    for cat in sorted(set(categories)):
        sel = np.array([c == cat for c in categories])
        subs = sorted({s for s, keep in zip(subsets, sel) if keep})
        accs, ns = [], []
        for s in subs:
            m = sel & np.array([x == s for x in subsets])
            accs.append(float(hits[m].mean()))
            ns.append(int(m.sum()))
        out[str(cat)] = {"weighted": float(np.average(accs, weights=ns)),
                         "unweighted": float(np.mean(accs)), "n": int(sum(ns)),
                         "subsets": dict(zip(map(str, subs), accs))}
    return out


def gold_accuracy(r_chosen, r_rejected, gold_chosen, gold_rejected, *, seed=0,
                  n_resamples=1000) -> dict[str, Any]:
    """Accuracy against a gold reward (the lab): on pairs whose gold scores differ, does the RM
    prefer the gold-better side? Also how often the labels themselves agree with gold."""
    r_c, r_r = _check(r_chosen, r_rejected)
    g_c, g_r = np.asarray(gold_chosen, float), np.asarray(gold_rejected, float)
    sel = g_c != g_r
    if not sel.any():
        return {"value": None, "n": 0}
    rm_right = np.where(g_c > g_r, r_c > r_r, r_r > r_c)[sel].astype(np.float64)
    out = accuracy_ci(rm_right, seed=seed, n_resamples=n_resamples)
    out["label_gold_agreement"] = float((g_c > g_r)[sel].mean())
    return out


@dataclass
class RewardAnalysis:
    """Everything :func:`analyze_reward_model` measured; ``to_dict`` for JSON."""

    accuracy: dict[str, float]
    chance: float
    calibration: dict[str, Any]
    length: dict[str, Any]
    distributions: dict[str, Any]
    by_subset: dict[str, dict] = field(default_factory=dict)
    by_category: dict[str, dict] = field(default_factory=dict)
    sections: dict[str, dict] = field(default_factory=dict)
    by_annotator: dict[str, dict] = field(default_factory=dict)
    gold: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    best_of_n: dict[str, Any] | None = None   # RewardBench-2-style items (best_of_n_report)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def table(self):
        """Tidy rows: section, group, metric, value, ci_low, ci_high, n."""
        import pandas as pd

        rows = []

        def add(section, group, metric, d):
            rows.append({"section": section, "group": group, "metric": metric,
                         "value": d.get("value"), "ci_low": d.get("ci_low"),
                         "ci_high": d.get("ci_high"), "n": d.get("n")})

        add("overall", "all", "accuracy", self.accuracy)
        add("overall", "all", "chance", {"value": self.chance})
        add("length", "all", "longer_baseline", self.length["longer_baseline"])
        add("length", "chosen_longer", "accuracy", self.length["accuracy_chosen_longer"])
        add("length", "chosen_shorter", "accuracy", self.length["accuracy_chosen_shorter"])
        for k in ("pearson", "spearman"):
            add("length", "all", f"{k}_reward_length",
                {"value": self.length["corr_reward_length"][k]})
        add("calibration", "all", "ece", {"value": self.calibration["ece"]})
        add("calibration", "all", "brier", {"value": self.calibration["brier"]})
        for name, group in (("subset", self.by_subset), ("category", self.by_category),
                            ("annotator", self.by_annotator)):
            for g, d in group.items():
                add(name, g, "accuracy", d)
        for cat, d in self.sections.items():
            add("section", cat, "weighted_accuracy", {"value": d["weighted"], "n": d["n"]})
        if self.gold and self.gold.get("n"):
            add("gold", "all", "accuracy_vs_gold", self.gold)
        if self.best_of_n:
            add("best_of_n", "all", "accuracy", self.best_of_n)
            add("best_of_n", "all", "chance", {"value": self.best_of_n["chance"]})
            for g, d in self.best_of_n.get("by_subset", {}).items():
                add("best_of_n", g, "accuracy", d)
        for side in ("chosen", "rejected"):
            d = self.distributions[side]
            add("distribution", side, "reward_mean", {"value": d["mean"]})
            add("distribution", side, "reward_std", {"value": d["std"]})
        return pd.DataFrame(rows)


def _meta_labels(pairs: Sequence[PreferencePair], key: str) -> list | None:
    labels = [p.meta.get(key) for p in pairs]
    return labels if any(lab is not None for lab in labels) else None


def analyze_reward_model(r_chosen, r_rejected, pairs: Sequence[PreferencePair], *,
                         seed: int = 0, n_resamples: int = 1000, n_bins: int = 10,
                         hist_bins: int = 20) -> RewardAnalysis:
    """Analyse an RM from its rewards on ``pairs`` (same order)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    if len(pairs) != r_c.size:
        raise DataError(f"{len(pairs)} pairs but {r_c.size} rewards")
    hits = (r_c > r_r).astype(np.float64)
    kw = dict(seed=seed, n_resamples=n_resamples)
    both = np.concatenate([r_c, r_r])
    edges = np.linspace(both.min(), both.max() + 1e-12, hist_bins + 1)
    analysis = RewardAnalysis(
        accuracy=accuracy_ci(hits, **kw), chance=0.5,
        calibration=calibration(r_c, r_r, n_bins=n_bins),
        length=length_bias(r_c, r_r, [len(p.chosen) for p in pairs],
                           [len(p.rejected) for p in pairs], **kw),
        distributions={"chosen": distribution(r_c, edges=edges),
                       "rejected": distribution(r_r, edges=edges),
                       "histogram_edges": edges.tolist()},
        settings={"seed": seed, "n_resamples": n_resamples, "n_bins": n_bins,
                  "tie_counts_as": "wrong", "length_unit": "characters"})
    analysis.calibration["log_loss"] = log_loss(r_c, r_r)
    analysis.distributions["margin"] = margin_histogram(r_c, r_r, bins=hist_bins)
    subsets, categories = _meta_labels(pairs, "subset"), _meta_labels(pairs, "category")
    if subsets:
        analysis.by_subset = _group_accuracy(hits, [str(s) for s in subsets], **kw)
    if categories:
        analysis.by_category = _group_accuracy(hits, [str(c) for c in categories], **kw)
        analysis.calibration["by_category"] = calibration_by_category(
            r_c, r_r, [str(c) for c in categories], n_bins=n_bins)
        analysis.sections = section_scores(hits, [str(c) for c in categories],
                                           [str(s) for s in (subsets or categories)])
    annotators = [p.annotator for p in pairs]
    if any(a is not None for a in annotators):
        analysis.by_annotator = _group_accuracy(
            hits, [a if a is not None else "<none>" for a in annotators], **kw)
    gold_c, gold_r = _meta_labels(pairs, "gold_chosen"), _meta_labels(pairs, "gold_rejected")
    if gold_c and gold_r and all(g is not None for g in gold_c + gold_r):
        analysis.gold = gold_accuracy(r_c, r_r, gold_c, gold_r, **kw)
    return analysis

# ---------------------------------------------------------------------------------------------
# Beyond accuracy and ECE, as RewardBench users ask for (reward-bench #263): log loss beside the
# Brier score, a histogram of margins, calibration per category, and RewardBench-2-style best-of-N
# items (one chosen among several rejected completions; right when the chosen one scores strictly
# highest, so chance is 1/N). P(chosen better) = sigmoid(r_chosen - r_rejected), the
# Bradley-Terry reading of a reward model.


def log_loss(r_chosen, r_rejected) -> float:
    """Mean negative log-likelihood of "chosen is better" under the BT reading (nats)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    m = r_c - r_r
    # -log sigmoid(m) = log(1 + exp(-m)), computed stably
    return float(np.mean(np.logaddexp(0.0, -m)))


def brier(r_chosen, r_rejected) -> float:
    r_c, r_r = _check(r_chosen, r_rejected)
    return float(np.mean((sigmoid(r_c - r_r) - 1.0) ** 2))


def margin_histogram(r_chosen, r_rejected, *, bins: int = 20) -> dict[str, Any]:
    """Counts of ``r_chosen - r_rejected`` over ``bins`` equal-width bins (negative margins
    are the RM's mistakes)."""
    r_c, r_r = _check(r_chosen, r_rejected)
    m = r_c - r_r
    counts, edges = np.histogram(m, bins=bins)
    return {"counts": counts.tolist(), "edges": edges.tolist(),
            "negative": int((m < 0).sum()), "zero": int((m == 0).sum()),
            "positive": int((m > 0).sum())}


def calibration_by_category(r_chosen, r_rejected, categories: Sequence, *,
                            n_bins: int = 10) -> dict[str, dict]:
    """:func:`reward_analysis.calibration` (ECE, Brier) and log loss per category."""
    r_c, r_r = _check(r_chosen, r_rejected)
    cats = np.asarray([str(c) for c in categories], dtype=object)
    if cats.size != r_c.size:
        raise DataError(f"{cats.size} categories for {r_c.size} pairs", field="category")
    out = {}
    for c in sorted(set(cats)):
        sel = cats == c
        cal = calibration(r_c[sel], r_r[sel], n_bins=n_bins)
        out[c] = {"n": int(sel.sum()), "ece": cal["ece"], "brier": cal["brier"],
                  "log_loss": log_loss(r_c[sel], r_r[sel])}
    return out


def best_of_n(rewards: Sequence[Sequence[float]], *, seed: int = 0,
              n_resamples: int = 1000) -> dict[str, Any]:
    """Best-of-N accuracy: ``rewards[i] = [r_chosen, r_rejected_1, ..., r_rejected_k]``; an item
    is right when the chosen reward is strictly above every rejected one (a tie is wrong)."""
    if not len(rewards):
        raise DataError("no best-of-N items")
    hits, sizes = [], []
    for i, row in enumerate(rewards):
        r = np.asarray(row, dtype=float)
        if r.ndim != 1 or r.size < 2 or not np.all(np.isfinite(r)):
            raise DataError(f"item {i}: expected a chosen and >= 1 rejected finite rewards",
                            line=i + 1, field="rewards")
        hits.append(float(r[0] > r[1:].max()))
        sizes.append(r.size)
    out = dict(accuracy_ci(np.asarray(hits), seed=seed, n_resamples=n_resamples))
    out["chance"] = float(np.mean([1.0 / s for s in sizes]))
    out["n_items"] = len(hits)
    return out


@dataclass(frozen=True)
class BestOfNItem:
    prompt: str
    completions: tuple[str, ...]       # the chosen one first, then the rejected ones
    subset: str | None = None


def read_best_of_n(source, *, split: str | None = None) -> tuple[list[BestOfNItem], int]:
    """RewardBench-2-style items, one per record: ``prompt``, ``chosen`` (a string, or a list
    holding one string) and ``rejected`` (a non-empty list of strings), optional ``subset``.
    JSONL, JSON or Parquet (lists need a format that has them), or a saved dataset; a bad
    record raises a DataError naming the file, the line and the field. Returns the items and
    the number of records skipped because they have several chosen completions (RewardBench
    2's Ties subset, which is scored by another rule)."""
    from ..io import iter_rows

    items, multi_chosen = [], 0
    for label, line, unit, rec in iter_rows(source, split=split):
        def bad(msg: str, field: str):
            return DataError(msg, path=label, line=line, field=field, unit=unit)

        prompt, chosen, rejected = rec.get("prompt"), rec.get("chosen"), rec.get("rejected")
        if not isinstance(prompt, str):
            raise bad("expected a string", "prompt")
        if isinstance(chosen, list) and len(chosen) > 1 and \
                all(isinstance(c, str) for c in chosen):
            multi_chosen += 1
            continue
        if isinstance(chosen, list) and len(chosen) == 1:
            chosen = chosen[0]
        if not isinstance(chosen, str):
            raise bad("expected a string (or a list of one string)", "chosen")
        if not isinstance(rejected, list) or not rejected or \
                not all(isinstance(r, str) for r in rejected):
            raise bad("expected a non-empty list of strings", "rejected")
        subset = rec.get("subset")
        items.append(BestOfNItem(prompt, (chosen, *rejected),
                                 None if subset is None else str(subset)))
    if not items:
        raise DataError("no best-of-N items (records with several chosen completions are "
                        "skipped)", path=str(source))
    return items, multi_chosen


def best_of_n_report(items: Sequence[BestOfNItem], rewards: Sequence[float], *, seed: int = 0,
                     n_resamples: int = 1000) -> dict[str, Any]:
    """:func:`best_of_n` over ``items`` whose completions were scored in order into the flat
    ``rewards``; per subset too when the items name one."""
    rows, k = [], 0
    for it in items:
        rows.append(list(rewards[k:k + len(it.completions)]))
        k += len(it.completions)
    if k != len(rewards):   # a caller's bug, not bad input
        raise RuntimeError(f"{k} completions but {len(rewards)} rewards")
    out = best_of_n(rows, seed=seed, n_resamples=n_resamples)
    subsets = sorted({it.subset for it in items if it.subset is not None})
    if subsets:
        out["by_subset"] = {
            s: best_of_n([r for r, it in zip(rows, items) if it.subset == s], seed=seed,
                         n_resamples=n_resamples) for s in subsets}
    return out
