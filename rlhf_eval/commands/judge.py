"""Judge pairs with an LLM (both orders), report its biases and its agreement with humans.

  rlhf-eval judge --summeval --llm smollm2 --rm RM_DIR --out DIR
        SummEval as pairs (two systems' summaries of one document, the expert mean deciding):
        one table ranks ROUGE, BERTScore, 'longer', the RM and the LLM judge by agreement with
        the experts (DIR/judge_meta.{md,json,csv}); --max-inputs 10 --pairs-per-input 6
  rlhf-eval judge --pairs FILE.jsonl --llm MODEL --out DIR
        any pairs: {"prompt", "a", "b"[, "id", "winner", "system_a", "system_b"]} per line, or
        a public layout (--layout summarize-from-feedback|mt-bench|alpaca-eval); writes
        DIR/verdicts.jsonl, the bias report and, with winners, the agreement table (two
        annotators on one pair are two labels)

LLM options: --engine hf|vllm|openai (openai: --base-url URL of any OpenAI-compatible server,
--api-key-env, --concurrency, --request-timeout, --max-retries) --template pairwise|pairwise-summary|FILE (.j2 = Jinja, else
str.format) --mode auto|logprobs|parse. Answers are cached in DIR/judgments.sqlite (or --store):
a re-run does no model work.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import time

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--summeval", action="store_true", help="the bundled SummEval, as pairs")
    src.add_argument("--pairs", metavar="FILE", help="JSONL pairs to judge")
    parser.add_argument("--llm", help="judge model: a folder, a HF id, or 'smollm2'")
    from .engine_flags import add_engine_arguments

    add_engine_arguments(parser, default="hf", what="judge")
    parser.add_argument("--template", help="built-in template name or a file "
                                           "(default pairwise-summary / pairwise)")
    parser.add_argument("--mode", default="auto", choices=["auto", "logprobs", "parse"])
    parser.add_argument("--max-field-chars", type=int, default=1500,
                        help="cut each prompt field to this many characters")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rm", help="--summeval: a reward model folder to rank beside the rest")
    parser.add_argument("--metrics", default="rouge,bertscore", help="--summeval: metrics")
    parser.add_argument("--aspect", default="overall",
                        help="--summeval: expert aspect deciding (overall = mean of the four)")
    parser.add_argument("--max-inputs", type=int, default=10)
    parser.add_argument("--pairs-per-input", type=int, default=6)
    parser.add_argument("--layout", default="plain",
                        help="--pairs layout: plain, summarize-from-feedback, mt-bench, "
                             "alpaca-eval")
    parser.add_argument("--judge-system", help="--pairs: the system name of the judge model's "
                                               "own answers (self-preference)")
    parser.add_argument("--store", help="judgment cache (default OUT/judgments.sqlite)")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--out", required=True, metavar="DIR")


def _judge_pairs(args, store) -> tuple[dict, str]:
    from ..errors import ConfigError
    from ..evaluation.judges.engine import make_engine
    from ..evaluation.judges.llm import JudgeSettings, PairItem, PairwiseJudge
    from ..evaluation.judges.meta import meta_table
    from ..evaluation.judges.stats import bias_report
    from ..evaluation.judges.summeval_meta import bias_markdown
    from ..evaluation.judges.templates import load_template

    if not args.llm:
        raise ConfigError("--pairs needs --llm (the judge model)")
    from ..comparisons import read_comparisons

    rows = read_comparisons(args.pairs, args.layout)
    from .engine_flags import engine_options

    template = load_template(args.template or "pairwise", kind="pairwise")
    engine = make_engine(args.engine, args.llm, batch_size=args.batch_size,
                         engine_options=engine_options(args))
    try:
        judge = PairwiseJudge(engine, template, JudgeSettings(
            mode=args.mode, max_field_chars=args.max_field_chars))
        frame = judge.judge([PairItem(r["id"], r["prompt"], r["a"], r["b"]) for r in rows],
                            store=store)
    finally:
        engine.close()
    human = [r.get("winner") for r in rows]
    has_human = all(h is not None for h in human)
    rep = bias_report(frame["first_ab"], frame["first_ba"], frame["verdict"], frame["len_a"],
                      frame["len_b"], human=human if has_human else None,
                      system_a=[r.get("system_a") for r in rows],
                      system_b=[r.get("system_b") for r in rows], judge_system=args.judge_system,
                      n_resamples=args.n_resamples, seed=args.seed, confidence=args.confidence)
    result = {"signature": judge.signature, "model_calls": judge.model_calls, "bias": rep}
    md = [f"{len(rows)} pairs judged by {judge.name} ({judge.model_calls} prompts sent to the "
          "model)", "", *bias_markdown(rep)]
    if has_human:
        tab = meta_table(human, {judge.name: frame["verdict"].to_numpy(dtype=object)},
                         n_resamples=args.n_resamples, seed=args.seed,
                         confidence=args.confidence)
        result["agreement"] = tab.to_dict(orient="records")
        r = tab.iloc[0]
        md += ["", f"Agreement with the human winners: {r.agreement:.3f} [{r.ci_low:.3f}, "
               f"{r.ci_high:.3f}] (judge ties count as misses), excluding judge ties "
               f"{r.agreement_excl_judge_ties:.3f} [{r.excl_ci_low:.3f}, {r.excl_ci_high:.3f}], "
               f"kappa {r.kappa:.3f}"]
    from ..io import atomic_write

    with atomic_write(f"{args.out}/verdicts.jsonl") as fh:
        for row, rec in zip(rows, frame.to_dict(orient="records")):
            fh.write(json.dumps({**rec, "id": row["id"]}, default=str) + "\n")
    return result, "\n".join(md) + "\n"


def run(args) -> int:
    from pathlib import Path

    from ..io import atomic_write
    from .engine_flags import engine_options

    if not args.llm and (args.engine != "hf" or engine_options(args)):
        from ..errors import ConfigError

        raise ConfigError("--engine and its options (--base-url, ...) choose the LLM judge's "
                          "engine: pass --llm MODEL too")
    from ..store import ResultsStore

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(args.store or out / "judgments.sqlite")
    try:
        if args.summeval:
            from ..evaluation.judges.summeval_meta import (SummEvalMetaConfig, markdown,
                                                           summeval_meta)

            config = SummEvalMetaConfig(
                aspect=args.aspect, max_inputs=args.max_inputs,
                pairs_per_input=args.pairs_per_input, seed=args.seed,
                metrics=tuple(m for m in args.metrics.split(",") if m), rm=args.rm,
                llm=args.llm, engine=args.engine, engine_options=engine_options(args),
                template=args.template or "pairwise-summary", mode=args.mode,
                max_field_chars=args.max_field_chars, batch_size=args.batch_size,
                n_resamples=args.n_resamples, confidence=args.confidence)
            res = summeval_meta(config, store=store, cache_dir=str(out / "cache"))
            engine_flags = [] if not args.llm else [
                ("--engine", args.engine), ("--base-url", args.base_url),
                ("--template", args.template), ("--mode", args.mode)]
            opts = [("--llm", args.llm), *engine_flags, ("--rm", args.rm),
                    ("--metrics", args.metrics),
                    ("--max-inputs", args.max_inputs),
                    ("--pairs-per-input", args.pairs_per_input),
                    ("--max-field-chars", args.max_field_chars), ("--out", args.out)]
            cmd = "rlhf-eval judge --summeval " + " ".join(
                f"{k} {shlex.quote(str(v))}" for k, v in opts if v is not None)
            md = markdown(res, command=cmd)
            res["table"].to_csv(out / "judge_meta.csv", index=False)
            with atomic_write(out / "judge_meta.json") as fh:
                json.dump({"table": res["table"].to_dict(orient="records"),
                           "bias": res["bias"], "signatures": res["signatures"],
                           "notes": res["notes"]}, fh, indent=2, default=str)
            res["pairs"].drop(columns=["source"]).to_csv(out / "judge_pairs.csv", index=False)
            name = "judge_meta"
        else:
            result, md = _judge_pairs(args, store)
            with atomic_write(out / "judge_bias.json") as fh:
                json.dump(result, fh, indent=2, default=str)
            name = "judge_bias"
    finally:
        store.close()
    with atomic_write(out / f"{name}.md") as fh:
        fh.write(md)
    print(md)
    log.info("judge: %.1f s", time.perf_counter() - t0)
    return 0
