"""``rlhf_eval.correlate(...)``: the library entry point of the metric-vs-human correlation
analysis, which ``rlhf-eval correlate`` and the dashboard both call (they only parse flags or
widgets, and print or draw).

- :func:`load_source` reads the human-judged table: SummEval, a lab folder, or any tidy table.
- :func:`correlate` scores registry metrics on it (cached per signature), computes correlations
  at the requested levels with bootstrap intervals, optional paired metric comparisons and
  pairwise agreement with human choices, and returns a :class:`CorrelationAnalysis` that writes
  ``correlations.{md,json,csv}``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..errors import DataError

SUMMEVAL_METRICS = ("rouge", "bleu", "chrf", "bertscore")
LEVELS = ("summary", "system", "sample")
METHODS = ("pearson", "spearman", "kendall")


@dataclass
class CorrelationSource:
    """A table with one row per input x system, which columns are what, and where it came
    from (``kind``: ``summeval``, ``lab`` or ``table``)."""

    table: pd.DataFrame
    spec: object  # correlation_inputs.TableSpec
    human: list[str]
    name: str
    notes: list[str] = field(default_factory=list)
    kind: str = "table"
    lab_dir: str | None = None


def load_source(*, summeval: bool = False, summeval_path: str | None = None,
                lab: str | None = None, table: str | None = None, id_col: str = "doc_id",
                system_col: str = "system", output_col: str = "output",
                refs_col: str | None = "references", prompt_col: str | None = None,
                human_cols: Sequence[str] = (), max_inputs: int | None = None,
                allow_no_human: bool = False,
                max_refs: int | None = None) -> CorrelationSource:
    """SummEval (``summeval=True``), a lab folder (``lab=``) or a table file (``table=``);
    ``max_inputs`` keeps the first N inputs (quick looks), ``max_refs`` the first N references
    of each output (the LM metrics score each reference separately)."""
    from . import correlation_inputs as ci

    notes = []
    human = list(human_cols)
    if summeval:
        frame = ci.summeval_table(summeval_path)
        spec = ci.SUMMEVAL_SPEC
        human = human or list(ci.SUMMEVAL_ASPECTS)
        name, kind = "SummEval (Fabbri et al. 2021), expert ratings", "summeval"
        notes.append("SummEval ships only the mean of 3 expert ratings per summary: "
                     "inter-annotator agreement cannot be computed from it.")
    elif lab:
        frame = ci.lab_table(lab)
        spec = ci.TableSpec(id_col="doc_id", system_col="system", output_col="output",
                            refs_col="references", prompt_col="source")
        human = human or [*frame.attrs["aspects"], "gold_coverage", "gold_invented",
                          "gold_brevity", "gold"]
        name, kind = (f"lab ratings in {lab} (mean over simulated annotators) and gold "
                      "aspects"), "lab"
        notes.append("lab 'systems' are candidate positions within a prompt: read the summary "
                     "and sample levels.")
    else:
        if not human and not allow_no_human:
            # allow_no_human: explicit pairwise choices (--choices) carry the human signal
            raise DataError("--human-cols is required with --table (or pass --choices: the "
                            "pairwise choices then carry the human signal)", field="human-cols")
        spec = ci.TableSpec(id_col, system_col, output_col, refs_col, prompt_col, tuple(human))
        frame = ci.read_table(table, spec)
        name, kind = str(table), "table"
    spec = ci.TableSpec(spec.id_col, spec.system_col, spec.output_col, spec.refs_col,
                        spec.prompt_col, tuple(human))
    if max_inputs:
        keep = list(dict.fromkeys(frame[spec.id_col]))[:max_inputs]
        frame = frame[frame[spec.id_col].isin(keep)].reset_index(drop=True)
        frame.attrs.pop("first_line", None)  # rows no longer match file lines
        notes.append(f"restricted to the first {len(keep)} inputs (--max-inputs)")
    if max_refs is not None:
        if max_refs < 1 or not spec.refs_col:
            raise DataError("--max-refs needs a positive count and a references column",
                            field="max-refs")
        frame[spec.refs_col] = [list(r)[:max_refs] for r in frame[spec.refs_col]]
        notes.append(f"only the first {max_refs} reference(s) of each output (--max-refs)")
    return CorrelationSource(frame, spec, human, name, notes, kind, lab)


@dataclass
class CorrelationAnalysis:
    meta: dict
    results: pd.DataFrame               # tidy: metric, aspect, level, method, value, CI, n...
    compare: pd.DataFrame | None        # paired metric comparisons (A:B)
    agreement: pd.DataFrame | None      # pairwise agreement with human choices
    table: pd.DataFrame                 # the input table with the metric score columns

    def write(self, out: str | Path) -> dict[str, Path]:
        """``correlations.{md,json,csv}`` under ``out`` (atomically)."""
        from .correlation_report import write_report

        return write_report(out, self.meta, self.results, self.compare, self.agreement)

    def markdown(self) -> str:
        from .correlation_report import report_markdown

        return report_markdown(self.meta, self.results, self.compare, self.agreement)


def correlate(source: CorrelationSource, *, metrics: Sequence[str] = (),
              metric_cols: Sequence[str] = (), metric_options: Mapping[str, dict] | None = None,
              multi_ref: str = "mean", levels: Sequence[str] = LEVELS,
              methods: Sequence[str] = METHODS, resample: str = "both",
              n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
              compare: Sequence[str] = (), pairwise: bool = False, choices: str | None = None,
              sample_id_col: str = "sample_id", cache_dir: str | None = None
              ) -> CorrelationAnalysis:
    """Correlate automatic metrics with the human columns of ``source`` (see module doc).

    ``metrics``: registry metrics to compute (scores cached under ``cache_dir``; SummEval
    defaults to ROUGE, BLEU, chrF and BERTScore); ``metric_cols``: scores already in the table;
    ``compare``: ``"A:B"`` pairs (does A correlate better than B?); ``pairwise``: agreement
    with choices derived from each aspect; ``choices``: a file of explicit pairwise choices."""
    from . import correlation as corr
    from . import correlation_inputs as ci
    from .correlation_pairwise import agreement_table

    t0 = time.perf_counter()
    table, spec, human, notes = source.table, source.spec, list(source.human), \
        list(source.notes)
    metrics, metric_cols = list(metrics), list(metric_cols)
    options = {k: dict(v) for k, v in (metric_options or {}).items()}
    if source.kind == "summeval" and not metrics and not metric_cols:
        metrics = list(SUMMEVAL_METRICS)
    if source.kind == "summeval" and "rouge" in metrics and "split" not in options.get("rouge",
                                                                                       {}):
        # SummEval summaries are one line: split sentences so ROUGE-Lsum is not ROUGE-L
        options.setdefault("rouge", {})["split"] = "punkt"
        notes.append("ROUGE-Lsum with sentences split by punkt (rouge.split=punkt)")
    if not metrics and not metric_cols:
        raise DataError("name --metrics to compute or --metric-cols already in the table",
                        field="metrics")
    signatures: dict[str, str] = {}
    if metrics:
        table, signatures = ci.add_metric_scores(table, metrics, spec, multi_ref=multi_ref,
                                                 cache_dir=cache_dir, metric_options=options)
        metric_cols += list(signatures)
    t_metrics = time.perf_counter() - t0
    config = corr.CorrelationConfig(levels=tuple(levels), methods=tuple(methods),
                                    resample=resample, n_resamples=n_resamples,
                                    seed=seed, confidence=confidence)
    grid = corr.grid_from_table(table, id_col=spec.id_col, system_col=spec.system_col,
                                value_cols=[*metric_cols, *human],
                                source=table.attrs.get("source", source.name))
    for col in [*metric_cols, *human]:
        missing = int(table[col].isna().sum())
        if missing:
            notes.append(f"{missing} row(s) have no {col!r} score: excluded from its "
                         "correlations (counted in n_skipped at the sample level)")
    if human:
        results = corr.correlate_grid(grid, metric_cols, human, config)
    else:  # choices alone: agreement with them is the whole analysis
        results = pd.DataFrame(columns=["metric", "aspect", "level", "method", "value"])
        notes.append("no human score columns: only the agreement with the choices is "
                     "computed (no correlations)")
    compared = None
    if compare:
        parts = []
        for pair in compare:
            a, sep, b = pair.partition(":")
            if not sep or not a or not b:
                raise DataError(f"expected A:B, found {pair!r}", field="compare")
            parts.append(corr.compare_metrics(grid, a, b, human, config))
        compared = pd.concat(parts, ignore_index=True)
    agreement = None
    if pairwise:
        ceilings = ci.lab_choice_ceilings(source.lab_dir) if source.lab_dir else None
        agreement = agreement_table(table, metrics=metric_cols, aspects=human,
                                    id_col=spec.id_col, system_col=spec.system_col,
                                    n_resamples=n_resamples, seed=seed,
                                    confidence=confidence, ceilings=ceilings)
        if not ceilings:
            notes.append("pairwise agreement: no per-annotator choices, so no inter-annotator "
                         "ceiling")
    if choices:
        from ..io import read_records
        from .correlation_pairwise import choices_agreement_table

        records = read_records(choices, "choice").records
        explicit = choices_agreement_table(table, records, metrics=metric_cols,
                                           sample_id_col=sample_id_col,
                                           id_col=spec.id_col, source=choices,
                                           n_resamples=n_resamples, seed=seed,
                                           confidence=confidence)
        agreement = explicit if agreement is None else pd.concat([agreement, explicit],
                                                                 ignore_index=True)
    elapsed = time.perf_counter() - t0
    notes.append(f"{len(grid.inputs)} inputs x {len(grid.systems)} systems; metrics scored in "
                 f"{t_metrics:.1f} s, total {elapsed:.1f} s")
    meta = {"data": source.name, "levels": list(levels), "methods": list(config.methods),
            "resample": config.resample, "n_resamples": config.n_resamples,
            "seed": config.seed, "confidence": config.confidence,
            "multi_ref": multi_ref, "metrics": metric_cols, "aspects": human,
            "signatures": signatures, "n_inputs": len(grid.inputs),
            "n_systems": len(grid.systems), "notes": notes}
    if source.kind == "summeval":  # the published rows next to ours
        from .summeval_published import comparison_markdown

        meta["published"] = comparison_markdown(results)
    return CorrelationAnalysis(meta, results, compared, agreement, table)
