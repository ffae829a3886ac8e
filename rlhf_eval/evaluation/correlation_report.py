"""Markdown and JSON output of a correlation analysis (written atomically).

Undefined values never print as ``nan``: a cell with no value prints ``—`` in Markdown and is
``null`` in JSON, and the reason is in the table's notes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..io import atomic_write_json, atomic_write_text


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def fmt(v: Any, digits: int = 3) -> str:
    if _missing(v):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _cell(row: pd.Series) -> str:
    return f"{fmt(row['value'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def correlations_markdown(results: pd.DataFrame) -> str:
    """One table per (level, method): rows are metrics, columns aspects, cells
    ``value [ci_low, ci_high]``; each table is followed by what it used (n / skipped)."""
    parts = []
    aspects = list(dict.fromkeys(results["aspect"]))
    unit = {"summary": "inputs", "system": "systems", "sample": "summaries"}
    for (level, method), block in results.groupby(["level", "method"], sort=False):
        first = block.iloc[0]
        parts.append(f"### {level} level, {method} "
                     f"({int(first['confidence'] * 100)}% CI, bootstrap over "
                     f"{first['resample']}, {first['n_resamples']} resamples, "
                     f"seed {first['seed']})\n")
        parts.append("| metric | " + " | ".join(aspects) + " |")
        parts.append("|---" * (len(aspects) + 1) + "|")
        for metric, rows in block.groupby("metric", sort=False):
            by_aspect = {r["aspect"]: _cell(r) for _, r in rows.iterrows()}
            parts.append(f"| {metric} | "
                         + " | ".join(by_aspect.get(a, "—") for a in aspects) + " |")
        used = sorted({(int(r["n"]), int(r["n_skipped"])) for _, r in block.iterrows()})
        parts.append("\n" + "; ".join(f"{n} {unit.get(level, 'units')} used, {s} skipped"
                                      for n, s in used)
                     + (" (skipped: constant metric or human scores across systems, or fewer "
                        "than 3 scored systems)" if level == "summary" else
                        " (skipped: no score)") + "\n")
    return "\n".join(parts)


def comparisons_markdown(compare: pd.DataFrame) -> str:
    lines = ["| A | B | aspect | level | method | r(A) | r(B) | delta [CI] | p boot | p perm "
             "| p Williams |", "|---" * 11 + "|"]
    for _, r in compare.iterrows():
        lines.append(f"| {r['metric_a']} | {r['metric_b']} | {r['aspect']} | {r['level']} | "
                     f"{r['method']} | {fmt(r['r_a'])} | {fmt(r['r_b'])} | "
                     f"{fmt(r['delta'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}] | "
                     f"{fmt(r['p_bootstrap'])} | {fmt(r['p_permutation'])} | "
                     f"{fmt(r['p_williams'])} |")
    lines.append("\np-values are one-sided (H1: A correlates better than B): paired bootstrap "
                 "(share of resamples with delta <= 0), PERM-BOTH permutation (Deutsch et al. "
                 "2021), Williams' test at the system level with Pearson (Graham & Baldwin "
                 "2014); — where a test does not apply.")
    return "\n".join(lines)


def _count(v: Any) -> str:
    return "—" if _missing(v) else str(int(v))


def agreement_markdown(agreement: pd.DataFrame) -> str:
    lines = ["| metric | aspect | agreement [CI] | excl. metric ties | pairs | human-decided | "
             "human ties | metric ties | agree | disagree |", "|---" * 10 + "|"]
    for _, r in agreement.iterrows():
        lines.append(f"| {r['metric']} | {r['aspect']} | {fmt(r['agreement'])} "
                     f"[{fmt(r.get('ci_low'))}, {fmt(r.get('ci_high'))}] | "
                     f"{fmt(r.get('agreement_excluding_metric_ties'))} | "
                     f"{_count(r.get('n_pairs'))} | {_count(r.get('n_decided'))} | "
                     f"{_count(r.get('human_ties'))} | {_count(r.get('metric_ties'))} | "
                     f"{_count(r.get('agree'))} | {_count(r.get('disagree'))} |")
    lines.append("\nagreement = agree / human-decided pairs (a metric tie on a decided pair counts "
                 "as a miss); human ties are left out of the rate. '(inter-annotator)': percent "
                 "agreement of annotator pairs on the same output pairs (a/b/tie), the ceiling.")
    return "\n".join(lines)


def report_markdown(meta: Mapping[str, Any], results: pd.DataFrame,
                    compare: pd.DataFrame | None = None,
                    agreement: pd.DataFrame | None = None) -> str:
    parts = [f"# Metric / human correlation: {meta.get('data', '')}\n"]
    for note in meta.get("notes", []):
        parts.append(f"- {note}")
    parts.append("")
    parts.append(correlations_markdown(results))
    if compare is not None and len(compare):
        parts.append("## Comparing metrics\n")
        parts.append(comparisons_markdown(compare))
    if agreement is not None and len(agreement):
        parts.append("\n## Pairwise agreement with human choices\n")
        parts.append(agreement_markdown(agreement))
    if meta.get("published"):  # correlate --summeval: the published rows next to ours
        parts.append("\n" + meta["published"])
    sigs = meta.get("signatures") or {}
    if sigs:
        parts.append("\n## Signatures\n")
        parts.extend(f"- `{k}`: `{v}`" for k, v in sigs.items())
    return "\n".join(parts) + "\n"


def _records(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None:
        return []
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({k: (None if _missing(v) else (v.item() if hasattr(v, "item") else v))
                    for k, v in rec.items()})
    return out


def write_report(out_dir: str | Path, meta: Mapping[str, Any], results: pd.DataFrame,
                 compare: pd.DataFrame | None = None,
                 agreement: pd.DataFrame | None = None) -> dict[str, Path]:
    """``correlations.md``, ``correlations.json`` and ``correlations.csv`` in ``out_dir``,
    each written atomically; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "correlations.md", "json": out / "correlations.json",
             "csv": out / "correlations.csv"}
    atomic_write_text(paths["markdown"], report_markdown(meta, results, compare, agreement))
    atomic_write_json(paths["json"], {"meta": dict(meta), "correlations": _records(results),
                                      "comparisons": _records(compare),
                                      "pairwise_agreement": _records(agreement)})
    atomic_write_text(paths["csv"], results.to_csv(index=False))
    return paths
