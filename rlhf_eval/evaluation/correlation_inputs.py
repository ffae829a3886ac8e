"""Tables for the correlation analysis: where outputs, references and human scores come from,
and metric scores computed on demand with a cache.

A correlation table is tidy: one row per (input, system) with an output text, optional
references (a list per row), and one column per human aspect. Loaders:

- :func:`summeval_table`   SummEval expert ratings (Fabbri et al. 2021), bundled in data/.
- :func:`read_table`       any CSV / JSONL / JSON / Parquet file with named columns.
- :func:`lab_table`        the lab's simulated Likert ratings (``ratings.jsonl`` +
                           ``rating_samples.jsonl``), plus the gold reward aspects.

:func:`add_metric_scores` scores each row with metrics from the registry
(:func:`rlhf_eval.evaluation.metrics.get_metric`). With several references, every
(output, reference) pair is scored on its own and the per-reference scores are aggregated by
``mean`` or ``max`` (the choice is part of the recorded signature). Per-reference scores are
cached in ``<cache_dir>/<metric>-<hash of signature>.parquet``, keyed by a hash of the texts, so
re-running the analysis, or switching mean/max, recomputes nothing.
"""
from __future__ import annotations

import hashlib
import io as _io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError

log = logging.getLogger(__name__)

MULTI_REF = ("mean", "max")
SUMMEVAL_ASPECTS = ("coherence", "consistency", "fluency", "relevance")


@dataclass(frozen=True)
class TableSpec:
    """Which columns of a tidy table play which role."""

    id_col: str = "doc_id"
    system_col: str = "system"
    output_col: str = "output"
    refs_col: str | None = "references"
    prompt_col: str | None = None
    human_cols: tuple[str, ...] = SUMMEVAL_ASPECTS


SUMMEVAL_SPEC = TableSpec(prompt_col="source")  # the article: source-conditioned metrics


# ----------------------------------------------------------------------------------- loaders


def summeval_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """SummEval as a tidy table (doc_id, system, output, references (11), source, and the four
    expert aspects), from the project's adapter."""
    from ..bundled import summeval_frame

    return summeval_frame(path)


def _parse_refs(value: Any, *, path: str, line: int, field: str) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(f"expected a JSON list of strings, found {text[:60]!r} ({exc})",
                                path=path, line=line, field=field) from None
        else:
            value = [value]
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(r, str) and r.strip() for r in value):
        raise DataError(f"expected a non-empty list of non-empty reference strings, found "
                        f"{value!r:.80}", path=path, line=line, field=field)
    return list(value)


def read_table(path: str | os.PathLike, spec: TableSpec) -> pd.DataFrame:
    """A tidy table from CSV, JSONL, JSON (a list of objects) or Parquet, checked against
    ``spec``. Errors name the file, the line (data rows count from 2 in a CSV with a header,
    from 1 in JSONL) and the column."""
    path = str(path)
    if not os.path.exists(path):
        raise DataError("no such file", path=path)
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            table, first_line = pd.read_csv(path), 2
        elif suffix in (".jsonl", ".ndjson"):
            table, first_line = pd.read_json(path, lines=True, dtype=False), 1
        elif suffix == ".json":
            table, first_line = pd.read_json(path, dtype=False), 1
        elif suffix == ".parquet":
            table, first_line = pd.read_parquet(path), 1
        else:
            raise DataError(f"unknown table format {suffix!r}; expected .csv, .jsonl, .json or "
                            ".parquet", path=path)
    except (ValueError, OSError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read the table: {exc}", path=path) from None
    needed = [spec.id_col, spec.system_col, spec.output_col, *spec.human_cols]
    needed += [c for c in (spec.refs_col, spec.prompt_col) if c]
    for col in needed:
        if col not in table.columns:
            raise DataError(f"column not found; the table has {', '.join(map(str, table.columns))}",
                            path=path, field=col)
    table = table.copy()
    table.attrs["source"] = path
    table.attrs["first_line"] = first_line
    if spec.refs_col:
        table[spec.refs_col] = [
            _parse_refs(v, path=path, line=i + first_line, field=spec.refs_col)
            for i, v in enumerate(table[spec.refs_col])]
    for col in (spec.output_col, spec.id_col, spec.system_col):
        bad = table[col].isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError("expected a value, found an empty cell", path=path,
                            line=row + first_line, field=col)
    return table


def lab_table(folder: str | os.PathLike, *, with_gold: bool = True) -> pd.DataFrame:
    """The lab's Likert ratings as a tidy table: one row per rated sample with its input
    (``doc_id``: the sample's ``meta['doc_id']``/``meta['prompt_id']`` or a hash of the
    prompt), ``system`` (the sample's, else ``c<k>``: its position among the prompt's samples),
    ``output``, ``references``, ``source`` (the prompt), one column per rated aspect (the mean
    over annotators), and with ``with_gold`` the gold reward columns (``gold``,
    ``gold_coverage``, ``gold_invented``, ``gold_brevity``).

    Every rating must name a sample in ``rating_samples.jsonl`` (else a DataError naming the
    ratings file and line); samples nobody rated keep NaN aspects, reported as exclusions.
    """
    from ..io import read_records

    folder = Path(folder)
    samples_path, ratings_path = folder / "rating_samples.jsonl", folder / "ratings.jsonl"
    for p in (samples_path, ratings_path):
        if not p.exists():
            raise DataError("lab ratings file not found (generate it with `rlhf-eval lab`)",
                            path=str(p))
    samples = read_records(str(samples_path), "sample").records
    by_id = {}
    for i, s in enumerate(samples):
        if s.id is None:
            raise DataError("a rated sample needs an id", path=str(samples_path), line=i + 1,
                            field="id")
        by_id[s.id] = s
    ratings: dict[tuple[str, str], list[float]] = {}
    for i, j in enumerate(read_records(str(ratings_path), "judgement").records):
        if j.sample_id not in by_id:
            raise DataError(f"rating of unknown sample {j.sample_id!r} (not in "
                            f"{samples_path.name})", path=str(ratings_path), line=i + 1,
                            field="sample_id")
        ratings.setdefault((j.sample_id, j.aspect), []).append(j.score)
    aspects = sorted({a for _, a in ratings})
    rows, seen = [], {}
    for sid, s in by_id.items():
        doc = str(s.meta.get("doc_id") or s.meta.get("prompt_id")
                  or hashlib.sha1(s.prompt.encode()).hexdigest()[:12])
        # lab candidates have no system: name them by position within their prompt, so the
        # summary level compares the candidates of one prompt (the system level then means
        # little: say so in the report)
        seen[doc] = seen.get(doc, -1) + 1
        row = {"sample_id": sid, "doc_id": doc, "system": s.system or f"c{seen[doc]}",
               "output": s.completion, "references": list(s.references), "source": s.prompt}
        for a in aspects:
            vals = ratings.get((sid, a))
            row[a] = float(np.mean(vals)) if vals else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if with_gold:
        from .metrics import get_metric  # the lab's "gold" plug-in (rlhf_eval.lab.metric)

        gold = get_metric("gold").sentence_scores(predictions=table["output"].tolist(),
                                                  prompts=table["source"].tolist())
        table = pd.concat([table, pd.DataFrame(gold)], axis=1)
    table.attrs["source"] = str(ratings_path)
    table.attrs["aspects"] = aspects
    return table


def lab_choice_ceilings(folder: str | os.PathLike) -> dict[str, tuple[float, int]]:
    """Inter-annotator agreement on pairwise choices derived from the lab's Likert ratings:
    for each aspect, every pair of samples of one prompt, and each annotator who rated both,
    the choice a/b/tie by that annotator's two scores. Returns ``{aspect: (percent agreement,
    number of sample pairs)}`` from :func:`rlhf_eval.agreement.agreement_table` (pooled
    percent agreement over annotator pairs): the ceiling for a metric's pairwise agreement."""
    from ..agreement import agreement_table
    from ..io import read_records
    from ..schema import PairwiseChoice

    folder = Path(folder)
    samples = {s.id: s for s in read_records(str(folder / "rating_samples.jsonl"), "sample")}
    scores: dict[tuple[str, str, str], float] = {}
    for j in read_records(str(folder / "ratings.jsonl"), "judgement"):
        scores[(j.aspect, j.annotator or "?", j.sample_id)] = j.score
    by_prompt: dict[str, list[str]] = {}
    for sid, s in samples.items():
        by_prompt.setdefault(s.prompt, []).append(sid)
    out = {}
    for aspect in sorted({a for a, _, _ in scores}):
        annotators = sorted({n for a, n, _ in scores if a == aspect})
        choices = []
        for ids in by_prompt.values():
            for i, sa in enumerate(ids):
                for sb in ids[i + 1:]:
                    for who in annotators:
                        xa, xb = scores.get((aspect, who, sa)), scores.get((aspect, who, sb))
                        if xa is None or xb is None:
                            continue
                        winner = "a" if xa > xb else "b" if xb > xa else "tie"
                        choices.append(PairwiseChoice(sa, sb, winner, who))
        if not choices:
            continue
        table = agreement_table(choices, level="nominal")
        out[aspect] = (float(table["percent_agreement"].iloc[0]), int(table["n_items"].iloc[0]))
    return out


# ------------------------------------------------------------------------ metrics with a cache


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


class ScoreCache:
    """Per-pair metric scores in one Parquet file per metric signature (written atomically)."""

    def __init__(self, cache_dir: str | os.PathLike | None, name: str, signature: str):
        self.path = (Path(cache_dir) / f"{name}-{_hash(signature)[:16]}.parquet"
                     if cache_dir else None)
        self.signature = signature
        self.table = pd.DataFrame()
        if self.path and self.path.exists():
            self.table = pd.read_parquet(self.path).set_index("key")

    def lookup(self, keys: Sequence[str]) -> pd.DataFrame:
        if self.table.empty:
            return pd.DataFrame(index=pd.Index([], name="key"))
        return self.table.loc[self.table.index.intersection(pd.Index(keys).unique())]

    def add(self, scores: pd.DataFrame) -> None:
        self.table = pd.concat([self.table, scores]) if not self.table.empty else scores
        self.table = self.table[~self.table.index.duplicated(keep="last")]
        if self.path is None:
            return
        from ..io import atomic_write_bytes

        buf = _io.BytesIO()
        out = self.table.reset_index()
        out.attrs = {}
        out.to_parquet(buf, index=False)
        atomic_write_bytes(self.path, buf.getvalue())


def _expand(table: pd.DataFrame, spec: TableSpec, *, use_refs: bool, use_prompts: bool):
    """Flatten rows into (row index, prediction, reference, prompt) single-reference pairs
    (one pair per row, with reference None, for a metric that uses no references)."""
    rows, preds, refs, prompts = [], [], [], []
    outputs = table[spec.output_col].astype(str).tolist()
    ref_lists = (table[spec.refs_col].tolist() if use_refs and spec.refs_col
                 else [[None]] * len(table))
    prompt_list = (table[spec.prompt_col].astype(str).tolist() if use_prompts and spec.prompt_col
                   else [None] * len(table))
    for i, (out, ref_list, prompt) in enumerate(zip(outputs, ref_lists, prompt_list)):
        for ref in ref_list:
            rows.append(i)
            preds.append(out)
            refs.append(ref)
            prompts.append(prompt)
    return np.asarray(rows), preds, refs, prompts


def score_pairs(metric, preds: list[str], refs: list[str | None], prompts: list[str | None], *,
                cache: ScoreCache) -> pd.DataFrame:
    """Scores of single-reference pairs, computing only those not in ``cache``."""
    keys = [_hash(p, r or "", q or "") for p, r, q in zip(preds, refs, prompts)]
    have = cache.lookup(keys)
    todo = {}
    for k, p, r, q in zip(keys, preds, refs, prompts):
        if k not in have.index and k not in todo:
            todo[k] = (p, r, q)
    if todo:
        log.info("%s: scoring %d new pair(s) (%d cached)", metric.name, len(todo),
                 len(set(keys)) - len(todo))
        p, r, q = zip(*todo.values())
        kwargs: dict[str, Any] = {"predictions": list(p)}
        if any(x is not None for x in r):
            kwargs["references"] = [[x] for x in r]
        if any(x is not None for x in q):
            kwargs["prompts"] = list(q)
        scores = metric.sentence_scores(**kwargs)
        frame = pd.DataFrame({name: np.asarray(scores[name], dtype=float)
                              for name in metric.score_names},
                             index=pd.Index(list(todo), name="key"))
        cache.add(frame)
        have = cache.lookup(keys)
    return have.loc[keys].reset_index(drop=True)


def build_metric(name: str, options: Mapping[str, Any] | None = None, *,
                 multi_ref: str = "mean"):
    """A registry metric with ``options``; a metric that has its own ``multi_ref`` option gets
    ours too, so its signature states the aggregation actually applied (we feed it one
    reference at a time and aggregate here)."""
    import inspect

    from .metrics import get_metric
    from .metrics.registry import _key, _resolve

    options = dict(options or {})
    try:
        params = inspect.signature(_resolve(_key(name))).parameters
    except (KeyError, TypeError, ValueError):
        params = {}
    if "multi_ref" in params and "multi_ref" not in options:
        options["multi_ref"] = multi_ref
    return get_metric(name, **options)


def add_metric_scores(table: pd.DataFrame, metrics: Sequence, spec: TableSpec, *,
                      multi_ref: str = "mean", cache_dir: str | os.PathLike | None = None,
                      metric_options: Mapping[str, Mapping[str, Any]] | None = None,
                      ) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` with one new column per score of each metric (a registry name, built with
    ``metric_options[name]``, or a metric object), and ``{score column: signature}``
    recording how each was computed (the signature includes the multi-reference
    aggregation)."""
    if multi_ref not in MULTI_REF:
        raise DataError(f"expected one of {MULTI_REF}, found {multi_ref!r}", field="multi_ref")
    out = table.copy()
    signatures = {}
    for metric in metrics:
        if isinstance(metric, str):
            metric = build_metric(metric, (metric_options or {}).get(metric),
                                  multi_ref=multi_ref)
        clash = [n for n in metric.score_names if n in table.columns]
        if clash:
            raise DataError(f"the table already has a column {clash[0]!r}; drop it or name the "
                            "metric column instead of recomputing it", field=clash[0])
        use_refs = bool(getattr(metric, "needs_references", True)) and spec.refs_col is not None
        use_prompts = bool(getattr(metric, "needs_prompts", False))
        if getattr(metric, "needs_references", True) and spec.refs_col is None:
            raise DataError(f"metric {metric.name!r} needs references; name the references "
                            "column", field="references")
        rows, preds, refs, prompts = _expand(table, spec, use_refs=use_refs,
                                             use_prompts=use_prompts)
        signature = metric.signature()
        scores = score_pairs(metric, preds, refs, prompts,
                             cache=ScoreCache(cache_dir, metric.name, signature))
        scores["_row"] = rows
        # NaN scores (a missing prediction) stay NaN: pandas' mean/max would skip them
        agg = getattr(scores.groupby("_row", sort=True), multi_ref)(skipna=False)
        for name in metric.score_names:
            out[name] = agg[name].reindex(range(len(table))).to_numpy()
            signatures[name] = (f"{signature}|multi_ref:{multi_ref}"
                                if use_refs and f"multi_ref={multi_ref}" not in signature
                                else signature)
    return out, signatures
