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

log = logging.getLogger(__name__)


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
    from ..threads import add_threads_argument

    add_threads_argument(parser)  # BERTScore's encoder


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


def run(args) -> int:
    from ..evaluation.correlate import correlate, load_source

    if "bertscore" in _csv(args.metrics) or (args.summeval and not args.metrics
                                              and not args.metric_cols):
        from ..threads import apply_threads

        apply_threads(args.threads)  # BERTScore's encoder
    refs = None if args.refs_col.lower() == "none" else args.refs_col
    source = load_source(summeval=args.summeval, summeval_path=args.summeval_path,
                         lab=args.lab, table=args.table, id_col=args.id_col,
                         system_col=args.system_col, output_col=args.output_col,
                         refs_col=refs, prompt_col=args.prompt_col,
                         human_cols=_csv(args.human_cols), max_inputs=args.max_inputs,
                         allow_no_human=bool(args.choices), max_refs=args.max_refs)
    analysis = correlate(
        source, metrics=_csv(args.metrics), metric_cols=_csv(args.metric_cols),
        metric_options=_metric_options(args.metric_option), multi_ref=args.multi_ref,
        levels=_csv(args.levels), methods=_csv(args.methods), resample=args.resample,
        n_resamples=args.n_resamples, seed=args.seed, confidence=args.confidence,
        compare=args.compare, pairwise=args.pairwise, choices=args.choices,
        sample_id_col=args.sample_id_col,
        cache_dir=args.cache_dir or f"{args.out}/cache")
    paths = analysis.write(args.out)
    print(analysis.markdown())
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return 0
