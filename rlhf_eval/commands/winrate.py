"""Win-rates of a run's checkpoints from every judge, length-controlled, with Bradley-Terry.

  rlhf-eval winrate --run runs/my-ppo [--judges reward,gold] [--baseline sft|previous|references]
                    [--llm smollm2 [--template pairwise] [--mode auto]]

Per checkpoint vs the baseline, for stored scores (--judges), human pairwise labels and an LLM
judge (both orders, answers cached in the run's store): win-rate [CI] (paired over prompts),
length-controlled win-rate [CI] (AlpacaEval 2.0's GLM, read at zero length difference), and
Bradley-Terry strengths of all checkpoints with intervals per score judge. The LLM judge's
win-rates are written to the store's win-rate table (the report shows them and can gate on
them: ``rlhf-eval report --fail-on winrate:llm:pairwise<0.5``). Writes RUN/winrate.{md,json}.
"""
from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run folder (or results.sqlite)")
    parser.add_argument("--run-name", help="the run's name in the store (default: the only one)")
    parser.add_argument("--judges", default="reward,gold",
                        help="stored score names to judge by (those present are used)")
    parser.add_argument("--baseline", default="sft", choices=["sft", "previous", "references"])
    parser.add_argument("--llm", help="LLM judge model: a folder, a HF id, or 'smollm2'")
    from .engine_flags import add_engine_arguments

    add_engine_arguments(parser, default="hf", what="LLM judge")
    parser.add_argument("--template", default="pairwise")
    parser.add_argument("--mode", default="auto", choices=["auto", "logprobs", "parse"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-field-chars", type=int, default=2000)
    parser.add_argument("--tie-policy", default="half", choices=["half", "exclude"])
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--out", help="folder for winrate.{md,json} (default: the run folder)")


def _fmt(v, lo, hi) -> str:
    if v is None or v != v:
        return "-"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def run(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..evaluation.judges import runs as jr
    from ..evaluation.winrate import baseline_pairs, human_winrate_rows
    from ..io import atomic_write
    from ..store import BASELINE, open_store
    from .engine_flags import engine_options

    if not args.llm and (args.engine != "hf" or engine_options(args)):
        raise ConfigError("--engine and its options (--base-url, ...) choose the LLM judge's "
                          "engine: pass --llm MODEL too")
    store = open_store(args.run)
    try:
        names = list(store.runs()["run"])
        run_name = args.run_name or (names[0] if len(names) == 1 else None)
        if run_name not in names:
            raise ConfigError(f"--run-name: pick one of {names}" if names else
                              f"{store.path}: no run in the store", )
        cks = store.checkpoints(run_name)
        ck_steps = [(c, int(s)) for c, s, k in zip(cks["checkpoint"], cks["step"], cks["kind"])
                    if k != "references"]
        pairs = baseline_pairs(ck_steps, args.baseline, BASELINE)
        gens = store.generations(run_name)
        scores = store.scores_frame(run_name)
        present = set(scores["metric"])
        judges = {j: j not in jr.LOWER_IS_BETTER for j in args.judges.split(",")
                  if j and j in present}
        kw = dict(tie_policy=args.tie_policy, confidence=args.confidence,
                  n_resamples=args.n_resamples, seed=args.seed)
        rows = jr.score_winrates(scores, gens, run=run_name, judges=judges, pairs=pairs, **kw)
        rows += human_winrate_rows(store.pairwise_labels(run_name), gens, run=run_name,
                                   pairs=pairs, **kw)
        llm_rows, llm_strengths = [], {}
        if args.llm:
            from ..evaluation.judges.engine import make_engine
            from ..evaluation.judges.llm import JudgeSettings, PairwiseJudge
            from ..evaluation.judges.templates import load_template

            template = load_template(args.template, kind="pairwise")
            engine = make_engine(args.engine, args.llm, batch_size=args.batch_size,
                                 engine_options=engine_options(args))
            try:
                judge = PairwiseJudge(engine, template, JudgeSettings(
                    mode=args.mode, max_field_chars=args.max_field_chars))
                llm_rows, frames = jr.llm_winrates(judge, gens, run=run_name, pairs=pairs,
                                                   store=store, **kw)
            finally:
                engine.close()
            store.replace_winrates(run_name, llm_rows)
            if args.baseline == "sft":
                tab = jr.judge_strengths(frames, anchor=BASELINE,
                                         n_resamples=min(args.n_resamples, 200), seed=args.seed,
                                         confidence=args.confidence)
                if tab is not None:
                    llm_strengths = {judge.name: tab}
        rows += llm_rows
        strengths = {}
        if args.baseline == "sft":
            for j, hib in judges.items():
                tab = jr.score_strengths(scores, j, higher_is_better=hib, anchor=BASELINE,
                                         n_resamples=min(args.n_resamples, 200), seed=args.seed,
                                         confidence=args.confidence)
                if tab is not None:
                    strengths[j] = tab
        strengths.update(llm_strengths)
    finally:
        store.close()
    lines = [f"Win-rates of {run_name} vs {args.baseline} (ties {args.tie_policy}; "
             f"{args.confidence:.0%} bootstrap intervals over prompts)", "",
             "| checkpoint | vs | judge | win-rate [CI] | LC win-rate [CI] | W/T/L |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['checkpoint']} | {r['baseline']} | {r['judge']} | "
                     f"{_fmt(r['winrate'], r['ci_low'], r['ci_high'])} | "
                     f"{_fmt(r.get('lc_winrate'), r.get('lc_ci_low'), r.get('lc_ci_high'))} | "
                     f"{r['wins']}/{r['ties']}/{r['losses']} |")
    for j, tab in strengths.items():
        lines += ["", f"Bradley-Terry strengths, {j} (baseline = 0):", "",
                  "| checkpoint | strength [CI] |", "|---|---|"]
        lines += [f"| {r.player} | {_fmt(r.strength, r.ci_low, r.ci_high)} |"
                  for r in tab.itertuples()]
    md = "\n".join(lines) + "\n"
    out = Path(args.out) if args.out else Path(args.run)
    if out.suffix == ".sqlite":
        out = out.parent
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "winrate.md") as fh:
        fh.write(md)
    with atomic_write(out / "winrate.json") as fh:
        json.dump({"winrates": rows, "strengths": {j: t.to_dict(orient="records")
                                                   for j, t in strengths.items()}},
                  fh, indent=2, default=str)
    print(md)
    return 0
