"""Correlate automatic metrics with human judgment, with bootstrap intervals.

  rlhf-eval correlate --summeval [--summeval-path FILE]
  rlhf-eval correlate --table FILE --id-col doc_id --system-col system --output-col output
                      [--refs-col references] --human-cols relevance,coherence
  rlhf-eval correlate --lab DIR            (the lab's ratings.jsonl + rating_samples.jsonl)

  common: --metrics rouge,bleu,chrf,bertscore   (computed, cached under --cache-dir; the
                                                 default with --summeval)
          --metric-cols colA,colB               (scores already in the table)
          --multi-ref mean|max  --levels summary,system,sample
          --methods pearson,spearman,kendall  --resample inputs|systems|both
          --n-resamples 1000 --seed 0 --confidence 0.95 --out DIR
          --compare bertscore_f:rouge2 (repeatable)  --pairwise
          --choices FILE [--sample-id-col sample_id]   (explicit pairwise human choices)

Levels (Deutsch et al. 2021): summary = per input across systems, averaged (inputs with a
constant vector are skipped and counted); system = per-system means; sample = pooled.
Writes DIR/correlations.{md,json,csv} and prints the Markdown. Exit 2 on bad data (fewer
than 3 systems at the system level, constant human scores, unknown columns or metrics).
"""
from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger(__name__)

SUMMEVAL_METRICS = ("rouge", "bleu", "chrf", "bertscore")


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--summeval", action="store_true",
                     help="SummEval expert ratings (bundled data/summeval/summeval.json)")
    src.add_argument("--table", metavar="FILE", help="a tidy .csv/.jsonl/.json/.parquet table")
    src.add_argument("--lab", metavar="DIR", help="a lab folder with ratings.jsonl and "
                                                  "rating_samples.jsonl")
    parser.add_argument("--summeval-path", metavar="FILE", help="another copy of summeval.json")
    parser.add_argument("--id-col", default="doc_id", help="input id column (default doc_id)")
    parser.add_argument("--system-col", default="system")
    parser.add_argument("--output-col", default="output")
    parser.add_argument("--refs-col", default="references",
                        help="references column (a list, or a JSON list in CSV); 'none' for "
                             "reference-free metrics only")
    parser.add_argument("--prompt-col", help="prompt/source column (for metrics that use it)")
    parser.add_argument("--human-cols", help="human score columns, comma-separated (default: "
                                             "the four SummEval aspects / the lab's aspects)")
    parser.add_argument("--metrics", default="",
                        help="registry metrics to compute, e.g. rouge,bleu,chrf,bertscore")
    parser.add_argument("--metric-option", action="append", default=[], metavar="M.KEY=VALUE",
                        help="an option for a metric, e.g. rouge.use_stemmer=false, "
                             "bertscore.model=PATH (repeatable; VALUE is read as YAML)")
    parser.add_argument("--metric-cols", default="", help="metric score columns already in "
                                                          "the table")
    parser.add_argument("--multi-ref", choices=["mean", "max"], default="mean",
                        help="aggregate per-reference scores (default mean)")
    parser.add_argument("--levels", default="summary,system,sample")
    parser.add_argument("--methods", default="pearson,spearman,kendall")
    parser.add_argument("--resample", choices=["inputs", "systems", "both"], default="both")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--compare", action="append", default=[], metavar="A:B",
                        help="test whether score column A correlates better than B")
    parser.add_argument("--pairwise", action="store_true",
                        help="also report pairwise agreement with human choices derived from "
                             "each aspect (ties explicit)")
    parser.add_argument("--choices", metavar="FILE",
                        help="explicit pairwise human choices (sample_a, sample_b, winner, "
                             "annotator) whose ids are in --sample-id-col: agreement of each "
                             "metric with them, and the annotators' own agreement")
    parser.add_argument("--sample-id-col", default="sample_id",
                        help="table column with the sample ids that --choices refer to")
    parser.add_argument("--max-inputs", type=int,
                        help="use only the first N inputs (quick looks)")
    parser.add_argument("--max-refs", type=int,
                        help="use only the first N references of each output (the LM metrics "
                             "score every reference separately)")
    parser.add_argument("--cache-dir", help="metric score cache (default OUT/cache)")
    parser.add_argument("--out", required=True, metavar="DIR")


def _metric_options(items: list[str]) -> dict[str, dict]:
    import yaml

    from ..errors import ConfigError

    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        metric, dot, option = key.partition(".")
        if not sep or not dot or not metric or not option:
            raise ConfigError(f"--metric-option: expected METRIC.KEY=VALUE, found {item!r}")
        out.setdefault(metric.strip().lower(), {})[option.strip()] = yaml.safe_load(value)
    return out


def _load(args):
    from ..errors import DataError
    from ..evaluation import correlation_inputs as ci

    notes = []
    if args.summeval:
        table = ci.summeval_table(args.summeval_path)
        spec = ci.SUMMEVAL_SPEC
        human = _csv(args.human_cols) or list(ci.SUMMEVAL_ASPECTS)
        name = "SummEval (Fabbri et al. 2021), expert ratings"
        notes.append("SummEval ships only the mean of 3 expert ratings per summary: "
                     "inter-annotator agreement cannot be computed from it.")
    elif args.lab:
        table = ci.lab_table(args.lab)
        spec = ci.TableSpec(id_col="doc_id", system_col="system", output_col="output",
                            refs_col="references", prompt_col="source")
        human = _csv(args.human_cols) or [*table.attrs["aspects"], "gold_coverage",
                                           "gold_invented", "gold_brevity", "gold"]
        name = f"lab ratings in {args.lab} (mean over simulated annotators) and gold aspects"
        notes.append("lab 'systems' are candidate positions within a prompt: read the summary "
                     "and sample levels.")
    else:
        refs = None if args.refs_col.lower() == "none" else args.refs_col
        human = _csv(args.human_cols)
        if not human:
            raise DataError("--human-cols is required with --table", field="human-cols")
        spec = ci.TableSpec(args.id_col, args.system_col, args.output_col, refs, args.prompt_col,
                            tuple(human))
        table = ci.read_table(args.table, spec)
        name = args.table
    spec = ci.TableSpec(spec.id_col, spec.system_col, spec.output_col, spec.refs_col,
                        spec.prompt_col, tuple(human))
    if args.max_inputs:
        keep = list(dict.fromkeys(table[spec.id_col]))[:args.max_inputs]
        table = table[table[spec.id_col].isin(keep)].reset_index(drop=True)
        table.attrs.pop("first_line", None)  # rows no longer match file lines
        notes.append(f"restricted to the first {len(keep)} inputs (--max-inputs)")
    if args.max_refs is not None:
        if args.max_refs < 1 or not spec.refs_col:
            raise DataError("--max-refs needs a positive count and a references column",
                            field="max-refs")
        table[spec.refs_col] = [list(r)[:args.max_refs] for r in table[spec.refs_col]]
        notes.append(f"only the first {args.max_refs} reference(s) of each output (--max-refs)")
    return table, spec, human, name, notes


def run(args) -> int:
    from ..errors import DataError
    from ..evaluation import correlation as corr
    from ..evaluation import correlation_inputs as ci
    from ..evaluation.correlation_pairwise import agreement_table
    from ..evaluation.correlation_report import report_markdown, write_report

    t0 = time.perf_counter()
    table, spec, human, name, notes = _load(args)
    metrics, metric_cols = _csv(args.metrics), _csv(args.metric_cols)
    options = _metric_options(args.metric_option)
    if args.summeval and not metrics and not metric_cols:
        metrics = list(SUMMEVAL_METRICS)
    if args.summeval and "rouge" in metrics and "split" not in options.get("rouge", {}):
        # SummEval summaries are one line: split sentences so ROUGE-Lsum is not ROUGE-L
        options.setdefault("rouge", {})["split"] = "punkt"
        notes.append("ROUGE-Lsum with sentences split by punkt (rouge.split=punkt)")
    if not metrics and not metric_cols:
        raise DataError("name --metrics to compute or --metric-cols already in the table",
                        field="metrics")
    signatures: dict[str, str] = {}
    if metrics:
        cache_dir = args.cache_dir or f"{args.out}/cache"
        table, signatures = ci.add_metric_scores(table, metrics, spec, multi_ref=args.multi_ref,
                                                 cache_dir=cache_dir, metric_options=options)
        metric_cols += list(signatures)
    t_metrics = time.perf_counter() - t0
    levels = _csv(args.levels)
    config = corr.CorrelationConfig(levels=tuple(levels), methods=tuple(_csv(args.methods)),
                                    resample=args.resample, n_resamples=args.n_resamples,
                                    seed=args.seed, confidence=args.confidence)
    grid = corr.grid_from_table(table, id_col=spec.id_col, system_col=spec.system_col,
                                value_cols=[*metric_cols, *human],
                                source=table.attrs.get("source", name))
    for col in [*metric_cols, *human]:
        missing = int(table[col].isna().sum())
        if missing:
            notes.append(f"{missing} row(s) have no {col!r} score: excluded from its "
                         "correlations (counted in n_skipped at the sample level)")
    results = corr.correlate_grid(grid, metric_cols, human, config)
    compare = None
    if args.compare:
        import pandas as pd

        parts = []
        for pair in args.compare:
            a, sep, b = pair.partition(":")
            if not sep or not a or not b:
                raise DataError(f"expected A:B, found {pair!r}", field="compare")
            parts.append(corr.compare_metrics(grid, a, b, human, config))
        compare = pd.concat(parts, ignore_index=True)
    agreement = None
    if args.pairwise:
        ceilings = ci.lab_choice_ceilings(args.lab) if args.lab else None
        agreement = agreement_table(table, metrics=metric_cols, aspects=human,
                                    id_col=spec.id_col, system_col=spec.system_col,
                                    n_resamples=args.n_resamples, seed=args.seed,
                                    confidence=args.confidence, ceilings=ceilings)
        if not ceilings:
            notes.append("pairwise agreement: no per-annotator choices, so no inter-annotator "
                         "ceiling")
    if args.choices:
        import pandas as pd

        from ..evaluation.correlation_pairwise import choices_agreement_table
        from ..io import read_records

        choices = read_records(args.choices, "choice").records
        explicit = choices_agreement_table(table, choices, metrics=metric_cols,
                                           sample_id_col=args.sample_id_col,
                                           id_col=spec.id_col, source=args.choices,
                                           n_resamples=args.n_resamples, seed=args.seed,
                                           confidence=args.confidence)
        agreement = explicit if agreement is None else pd.concat([agreement, explicit],
                                                                 ignore_index=True)
    elapsed = time.perf_counter() - t0
    notes.append(f"{len(grid.inputs)} inputs x {len(grid.systems)} systems; metrics scored in "
                 f"{t_metrics:.1f} s, total {elapsed:.1f} s")
    meta = {"data": name, "levels": levels, "methods": list(config.methods),
            "resample": config.resample, "n_resamples": config.n_resamples,
            "seed": config.seed, "confidence": config.confidence,
            "multi_ref": args.multi_ref, "metrics": metric_cols, "aspects": human,
            "signatures": signatures, "n_inputs": len(grid.inputs),
            "n_systems": len(grid.systems), "notes": notes}
    if args.summeval:
        from ..evaluation.summeval_published import comparison_markdown

        meta["published"] = comparison_markdown(results)
    paths = write_report(args.out, meta, results, compare, agreement)
    print(report_markdown(meta, results, compare, agreement))
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return 0
