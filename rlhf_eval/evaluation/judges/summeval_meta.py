"""Every judge against the SummEval experts, on pairs, in one call.

SummEval's summaries become pairwise comparisons (:func:`meta.summeval_pairs`: two systems'
summaries of one document, the expert mean deciding, ties where equal). The judges:

- reference metrics (ROUGE-1/2/L, BERTScore F1 with the bundled MiniLM): the higher score wins;
- ``longer``: the longer summary wins (the length baseline, as in AlpacaEval's analysis);
- ``reward`` (when an RM is given): the higher reward of (article, summary) wins;
- an LLM judge (when a model is given): pairwise in both orders (:mod:`judges.llm`), cached in
  the store, with its bias report.

One table ranks them by agreement with the experts (:func:`meta.meta_table`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SCORE_JUDGES = ("rouge1", "rouge2", "rougeL", "bertscore_f")


@dataclass(frozen=True)
class SummEvalMetaConfig:
    aspect: str = "overall"
    max_inputs: int | None = 10
    pairs_per_input: int | None = 6
    seed: int = 0
    metrics: tuple[str, ...] = ("rouge", "bertscore")
    rm: str | None = None                      # a reward-model folder
    llm: str | None = None                     # a causal LM (folder, id, or 'smollm2')
    engine: str = "hf"
    engine_options: dict = field(default_factory=dict, hash=False)  # vllm/openai engine args
    template: str = "pairwise-summary"
    mode: str = "auto"
    max_field_chars: int = 1500
    batch_size: int = 4
    n_resamples: int = 1000
    confidence: float = 0.95
    summeval_path: str | None = None
    metric_options: dict = field(default_factory=dict, hash=False)


def _rows(table: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    used = sorted(set(pairs["row_a"]) | set(pairs["row_b"]))
    return table.iloc[used]


def score_verdicts(table: pd.DataFrame, pairs: pd.DataFrame, config: SummEvalMetaConfig, *,
                   cache_dir: str) -> dict[str, np.ndarray]:
    """Verdicts of the score-based judges (metrics, length, RM) on every pair."""
    from .. import correlation_inputs as ci
    from .meta import verdicts_from_scores

    sub = _rows(table, pairs)
    metrics = list(config.metrics)
    options = {k: dict(v) for k, v in config.metric_options.items()}
    if "rouge" in metrics:
        # SummEval summaries are one line: split sentences so ROUGE-Lsum is not ROUGE-L
        options.setdefault("rouge", {}).setdefault("split", "punkt")
    spec = ci.SUMMEVAL_SPEC
    if config.rm:
        from .. import model_metrics  # noqa: F401  (registers the reward metric)

        metrics.append("reward")
        options.setdefault("reward", {})["model"] = config.rm
        spec = ci.TableSpec(spec.id_col, spec.system_col, spec.output_col, spec.refs_col,
                            "source", spec.human_cols)
    scored, signatures = ci.add_metric_scores(sub.reset_index(drop=True), metrics, spec,
                                              cache_dir=cache_dir, metric_options=options)
    scored.index = sub.index
    out = {}
    cols = [c for c in (*SCORE_JUDGES, "reward") if c in signatures]
    for col in cols:
        s = scored[col]
        out[col] = verdicts_from_scores(s.loc[pairs["row_a"]].to_numpy(),
                                        s.loc[pairs["row_b"]].to_numpy())
    out["longer"] = verdicts_from_scores(pairs["output_a"].str.len().to_numpy(),
                                         pairs["output_b"].str.len().to_numpy())
    return out


def llm_judgments(pairs: pd.DataFrame, config: SummEvalMetaConfig, *, store, engine):
    """``[(frame, judge)]``: the LLM judge's per-pair frame (:meth:`PairwiseJudge.judge`) under
    each verdict rule that applies (log-prob mode: 'argmax' over a/b/tie and 'ab', P(a over b)
    without the tie label; both from the same cached answers), and the judge."""
    from .llm import JudgeSettings, PairItem, PairwiseJudge
    from .templates import load_template

    template = load_template(config.template, kind="pairwise")
    items = [PairItem(f"{r.input}|{r.system_a}|{r.system_b}", r.source, r.output_a, r.output_b)
             for r in pairs.itertuples()]
    base = f"llm:{config.llm if config.llm == 'smollm2' else 'model'}"
    out = []
    rules = ("argmax", "ab") if engine.supports_logprobs and config.mode != "parse" and \
        template.has_tie else ("argmax",)
    for rule in rules:
        judge = PairwiseJudge(engine, template,
                              JudgeSettings(mode=config.mode, verdict=rule,
                                            max_field_chars=config.max_field_chars),
                              name=base if rule == "argmax" else f"{base} (A vs B)")
        out.append((judge.judge(items, store=store), judge))
    return out


def summeval_meta(config: SummEvalMetaConfig, *, store, cache_dir: str) -> dict:
    """``{"pairs", "table", "bias", "signatures", "notes"}`` for the config (see module doc)."""
    from .. import correlation_inputs as ci
    from .meta import summeval_pairs

    table = ci.summeval_table(config.summeval_path)
    pairs = summeval_pairs(table, aspect=config.aspect, max_inputs=config.max_inputs,
                           pairs_per_input=config.pairs_per_input, seed=config.seed)
    engine = None
    if config.llm:   # first: a bad model or endpoint fails before minutes of metric scoring
        from .engine import make_engine

        engine = make_engine(config.engine, config.llm, batch_size=config.batch_size,
                             engine_options=config.engine_options)
    try:
        return _meta(config, table, pairs, engine, store=store, cache_dir=cache_dir)
    finally:
        if engine is not None:
            engine.close()


def _meta(config, table, pairs, engine, *, store, cache_dir) -> dict:
    from .meta import meta_table
    from .stats import bias_report

    judges = score_verdicts(table, pairs, config, cache_dir=cache_dir)
    bias, signatures, notes = {}, {}, []
    if pairs.attrs.get("identical_skipped"):
        notes.append(f"{pairs.attrs['identical_skipped']} system pair(s) left out: the two "
                     "systems wrote the same text (no judge can separate them)")
    if config.llm:
        for frame, judge in llm_judgments(pairs, config, store=store, engine=engine):
            judges[judge.name] = frame["verdict"].to_numpy(dtype=object)
            signatures[judge.name] = judge.signature + f"|verdict={judge.settings.verdict}"
            bias[judge.name] = bias_report(
                frame["first_ab"], frame["first_ba"], frame["verdict"], frame["len_a"],
                frame["len_b"], human=pairs["human"], n_resamples=config.n_resamples,
                seed=config.seed, confidence=config.confidence)
            pairs = pairs.assign(**{f"{judge.name}:{c}": frame[c].to_numpy()
                                    for c in ("first_ab", "first_ba", "p_a", "p_b", "p_tie",
                                              "verdict")})
            notes.append(f"{judge.name}: {judge.model_calls} prompts sent to the model "
                         f"({2 * len(pairs) - judge.model_calls} answered from the store)")
    tab = meta_table(pairs["human"], judges, groups=pairs["input"],
                     n_resamples=config.n_resamples, seed=config.seed,
                     confidence=config.confidence)
    notes.append("SummEval ships only the mean of 3 expert ratings per summary: 0 items are "
                 "labelled twice, so no inter-annotator ceiling can be computed here.")
    return {"pairs": pairs, "table": tab, "bias": bias, "signatures": signatures,
            "notes": notes}


def markdown(result: dict, *, command: str | None = None) -> str:
    """The agreement table and the bias reports as Markdown."""
    tab = result["table"]
    pairs = result["pairs"]
    lines = []
    if command:
        lines += [f"`{command}`", ""]
    lines += [f"{len(pairs)} pairs from {pairs['input'].nunique()} documents; human winner = "
              f"expert mean ({int((pairs['human'] == 'tie').sum())} human ties left out of "
              "the agreement).", "",
              "| rank | judge | agreement [95% CI] | excl. judge ties [95% CI] | kappa | "
              "judge ties | no verdict |", "|---|---|---|---|---|---|---|"]
    for r in tab.itertuples():
        if r.judge == "(inter-annotator)":
            lines.append(f"| | (inter-annotator) | {r.agreement:.3f} ({r.n_pairs} items) | | | | |")
            continue
        lines.append(f"| {r.rank} | {r.judge} | {_iv(r.agreement, r.ci_low, r.ci_high)} | "
                     f"{_iv(r.agreement_excl_judge_ties, r.excl_ci_low, r.excl_ci_high)} | "
                     f"{r.kappa:.3f} | {r.judge_ties} | {r.judge_missing} |")
    for name, rep in result["bias"].items():
        lines += ["", f"Bias report, {name}:", ""]
        lines += bias_markdown(rep)
    if result["notes"]:
        lines += [""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def _iv(v, lo, hi) -> str:
    """``v [lo, hi]``, or '-' when undefined (e.g. a judge that only gave ties)."""
    return "-" if v != v else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def bias_markdown(rep: dict) -> list[str]:
    names = {"parse_failure_rate": "parse-failure rate", "flip_rate": "position-flip rate",
             "first_position_win_rate": "first-position win rate", "tie_rate": "tie rate",
             "p_prefers_longer": "P(prefers longer), judge",
             "p_prefers_longer_human": "P(prefers longer), humans",
             "self_preference": "self-preference (own answers' win-rate)",
             "self_preference_human": "own answers' win-rate, humans"}
    out = ["| figure | estimate [95% CI] | n |", "|---|---|---|"]
    for key, label in names.items():
        f = rep.get(key)
        if f:
            out.append(f"| {label} | {f['estimate']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}]"
                       f" | {f['n']} |")
    out.append("")
    out.append("Flags: " + ("; ".join(rep["flags"]) if rep["flags"] else "none"))
    return out
