"""Reports of an evaluated run: Markdown (CI job summary), self-contained HTML, JSON, JUnit XML.

Everything is computed once into a :class:`ReportData` (plain tables and dicts) and then
rendered by one small function per format, so the formats can never disagree on a number.
The HTML embeds its plots as base64 PNGs (matplotlib) so it opens offline, with no CDN.
"""
from __future__ import annotations

import base64
import html
import importlib.metadata
import io as _io
import json
import math
import platform
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError
from .escape import md, xml_text
from .gates import GateResult

PACKAGES = ("rlhf-eval", "torch", "transformers", "peft", "accelerate", "tokenizers",
            "rouge-score", "sacrebleu", "bert-score", "scipy", "pandas", "numpy")

@dataclass
class ReportData:
    run: str
    baseline: str
    checkpoint: str                       # the checkpoint the gates judge (usually the last)
    summary: pd.DataFrame                 # run, checkpoint, step, metric, mean, ci_low, ci_high, n
    winrates: pd.DataFrame
    correlations: pd.DataFrame | None     # metric, aspect, level, method, value, ci_low, ci_high, n
    training: pd.DataFrame | None         # PPO metrics.jsonl rows
    gates: list[GateResult] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    # baseline vs judged checkpoint over the samples scored on both (None: from `summary`)
    comparison: pd.DataFrame | None = None
    # per checkpoint and metric: samples scored vs samples the run evaluates (partial < all)
    coverage: pd.DataFrame | None = None
    failed: list[dict] = field(default_factory=list)  # checkpoints whose last eval failed

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


# ------------------------------------------------------------------------------ provenance


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_commit(path: str | Path = ".") -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def provenance(run_dir: Path | None, scores: pd.DataFrame) -> dict[str, Any]:
    from .runs import read_run_json

    run_cfg = read_run_json(run_dir) if run_dir is not None else {}
    signatures = {}
    if len(scores):
        for metric, sigs in scores.groupby("metric")["signature"]:
            signatures[metric] = sorted(set(sigs.dropna()))
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_config": run_cfg,
        "seed": run_cfg.get("seed"),
        "packages": package_versions(),
        "python": platform.python_version(),
        "git_commit": git_commit(run_dir or "."),
        "metric_signatures": signatures,
    }


# ----------------------------------------------------------------------------------- plots


def _png(fig) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plot_trends(summary: pd.DataFrame) -> str | None:
    """One small panel per metric: mean and CI band across checkpoints (by step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the "references" pseudo-checkpoint (step -1) is not a point on the training axis
    summary = summary[summary["step"] >= 0]
    if summary.empty:
        return None
    metrics = sorted(summary["metric"].unique())
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for run, g in summary[summary["metric"] == metric].groupby("run"):
            g = g.sort_values("step")
            ax.plot(g["step"], g["mean"], marker="o", ms=3, label=str(run))
            ax.fill_between(g["step"], g["ci_low"], g["ci_high"], alpha=0.25)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle("Metrics across checkpoints (mean, 95% CI)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def plot_reward_vs_kl(summary: pd.DataFrame, training: pd.DataFrame | None) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    have_eval = {"reward", "kl"} <= set(summary["metric"]) if len(summary) else False
    have_train = training is not None and {"objective/kl", "objective/scores"} <= set(training)
    if not (have_eval or have_train):
        return None
    fig, ax = plt.subplots(figsize=(5, 3.4))
    if have_train:
        ax.plot(training["objective/kl"], training["objective/scores"], ".", alpha=0.35,
                label="PPO rollouts (per step)")
        if "objective/gold" in training:
            ax.plot(training["objective/kl"], training["objective/gold"], ".", alpha=0.35,
                    label="gold reward (per step)")
    if have_eval:
        wide = summary[summary["step"] >= 0].pivot_table(index=["run", "step"], columns="metric", values="mean")
        ax.plot(wide["kl"], wide["reward"], "o-", color="black", label="eval: RM score")
        if "gold" in wide:
            ax.plot(wide["kl"], wide["gold"], "s--", color="tab:red", label="eval: gold")
    ax.set_xlabel("KL to reference (nats)")
    ax.set_ylabel("reward")
    ax.set_title("Reward vs KL", fontsize=10)
    ax.legend(fontsize=7)
    return _png(fig)


def plot_correlation_heatmap(corr: pd.DataFrame | None, *, level: str = "system",
                             method: str = "kendall") -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if corr is None or corr.empty:
        return None
    sel = corr[(corr["level"] == level) & (corr["method"] == method)]
    if sel.empty:
        sel = corr[corr["level"] == corr["level"].iloc[0]]
        level, method = sel["level"].iloc[0], sel["method"].iloc[0]
        sel = sel[sel["method"] == method]
    grid = sel.pivot_table(index="metric", columns="aspect", values="value")
    fig, ax = plt.subplots(figsize=(1.3 * len(grid.columns) + 2, 0.4 * len(grid) + 1.5))
    im = ax.imshow(grid.values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=30, fontsize=8)
    ax.set_yticks(range(len(grid.index)), grid.index, fontsize=8)
    for (i, j), v in np.ndenumerate(grid.values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(f"Correlation with human judgment ({level} level, {method})", fontsize=10)
    return _png(fig)


# -------------------------------------------------------------------------------- renderers


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def comparison_table(data: ReportData) -> pd.DataFrame:
    """Baseline vs judged checkpoint, one row per metric."""
    if data.comparison is not None:
        return data.comparison
    s = data.summary
    if s.empty:
        return pd.DataFrame(columns=["metric", "baseline", "checkpoint", "change", "ci_low",
                                     "ci_high"])
    pick = lambda ck: s[s["checkpoint"] == ck].set_index("metric")  # noqa: E731
    base, ck = pick(data.baseline), pick(data.checkpoint)
    rows = []
    for metric in sorted(set(base.index) | set(ck.index)):
        b = base["mean"].get(metric, np.nan)
        c = ck["mean"].get(metric, np.nan)
        rows.append({"metric": metric, "baseline": b, "checkpoint": c, "change": c - b,
                     "ci_low": ck["ci_low"].get(metric, np.nan),
                     "ci_high": ck["ci_high"].get(metric, np.nan)})
    return pd.DataFrame(rows)


def render_markdown(data: ReportData) -> str:
    # every name below comes from the user or the file system: md() makes it inert text
    status = "PASSED" if data.passed else "FAILED"
    lines = [f"# rlhf-eval report: {md(data.run)}", "",
             f"Checkpoint **{md(data.checkpoint)}** against baseline **{md(data.baseline)}**"
             + (f": gates **{status}**" if data.gates else "") + ".", ""]
    if data.failed:
        lines += ["## Checkpoints that failed to evaluate", ""]
        lines += [f"- {md(f['checkpoint'])} (step {int(f['step'])}): {md(f['error'])}"
                  for f in data.failed]
        lines.append("")
    if data.gates:
        lines += ["## Gates", "", "| gate | result | detail |", "|---|---|---|"]
        for g in data.gates:
            lines.append(f"| {md(g.gate.spec)} | {'pass' if g.passed else '**FAIL**'} | "
                         f"{md(g.message)} |")
        lines.append("")
    comp = comparison_table(data)
    if len(comp):
        lines += ["## Metrics", "", "| metric | baseline | checkpoint (95% CI) | change |"
                  + (" n |" if "n" in comp else ""),
                  "|---|---:|---:|---:|" + ("---:|" if "n" in comp else "")]
        for r in comp.itertuples():
            n = ""
            if "n" in comp:
                n = f" {r.n}" + (f" (partial: {md(r.partial)})" if getattr(r, "partial", "")
                                 else "") + " |"
            lines.append(f"| {md(r.metric)} | {_fmt(r.baseline)} | {_fmt(r.checkpoint)} "
                         f"({_fmt(r.ci_low)} .. {_fmt(r.ci_high)}) | {_fmt(r.change)} |{n}")
        lines.append("")
    if len(data.winrates):
        lines += ["## Win-rates", "", "| checkpoint | vs | judge | win-rate (95% CI) | n |",
                  "|---|---|---|---:|---:|"]
        for r in data.winrates.itertuples():
            lines.append(f"| {md(r.checkpoint)} | {md(r.baseline)} | {md(r.judge)} | "
                         f"{_fmt(r.winrate, 3)} ({_fmt(r.ci_low, 3)} .. {_fmt(r.ci_high, 3)}) "
                         f"| {r.n} |")
        lines.append("")
    if data.correlations is not None and len(data.correlations):
        # Kendall tau at the summary and system levels, the summarisation meta-evaluation
        # convention (every level and method is in report.json).
        kt = data.correlations[data.correlations["method"] == "kendall"]
        lines += ["## Correlation with human judgment (Kendall tau, 95% CI)", "",
                  "| data | metric | aspect | summary level | system level |",
                  "|---|---|---|---:|---:|"]
        cell = {(r.dataset, r.metric, r.aspect, r.level):
                f"{_fmt(r.value, 3)} ({_fmt(r.ci_low, 3)} .. {_fmt(r.ci_high, 3)}), n={r.n}"
                for r in kt.itertuples()}
        for key in dict.fromkeys((r.dataset, r.metric, r.aspect) for r in kt.itertuples()):
            lines.append(f"| {' | '.join(md(k) for k in key)} | "
                         f"{cell.get((*key, 'summary'), '–')} | "
                         f"{cell.get((*key, 'system'), '–')} |")
        lines.append("")
    p = data.provenance
    lines += ["## Provenance", "",
              f"- git commit: {md(p.get('git_commit') or 'n/a')}; seed: {md(p.get('seed'))}",
              "- packages: " + ", ".join(f"{md(k)} {md(v)}"
                                         for k, v in p.get("packages", {}).items()),
              "- metric signatures: " + "; ".join(
                  md(s) for sigs in p.get("metric_signatures", {}).values() for s in sigs),
              ""]
    return "\n".join(lines)


def render_html(data: ReportData) -> str:
    """A self-contained page: Markdown tables rendered as HTML tables, plots as data URIs."""
    plots = [("Metrics across checkpoints", plot_trends(data.summary)),
             ("Reward vs KL", plot_reward_vs_kl(data.summary, data.training))]
    if data.correlations is not None:
        for dataset, table in data.correlations.groupby("dataset"):
            plots.append((f"Correlation heatmap: {dataset}", plot_correlation_heatmap(table)))
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>rlhf-eval report: {esc(data.run)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
             "table{border-collapse:collapse;margin:1em 0;}td,th{border:1px solid #ccc;"
             "padding:3px 8px;font-size:13px;}.fail{color:#b00;font-weight:bold}"
             ".pass{color:#070}img{max-width:100%;}</style></head><body>",
             f"<h1>rlhf-eval report: {esc(data.run)}</h1>",
             f"<p>Checkpoint <b>{esc(data.checkpoint)}</b> against baseline "
             f"<b>{esc(data.baseline)}</b>.</p>"]
    if data.failed:
        parts.append("<h2>Checkpoints that failed to evaluate</h2><ul>" + "".join(
            f"<li class='fail'>{esc(f['checkpoint'])} (step {int(f['step'])}): "
            f"{esc(str(f['error']))}</li>" for f in data.failed) + "</ul>")
    if data.gates:
        parts.append("<h2>Gates</h2><table><tr><th>gate</th><th>result</th><th>detail</th></tr>")
        for g in data.gates:
            cls, word = ("pass", "pass") if g.passed else ("fail", "FAIL")
            parts.append(f"<tr><td><code>{esc(g.gate.spec)}</code></td>"
                         f"<td class='{cls}'>{word}</td><td>{esc(g.message)}</td></tr>")
        parts.append("</table>")
    for title, png in plots:
        if png:
            parts.append(f"<h2>{esc(title)}</h2><img class='plot' alt='{esc(title)}' "
                         f"src='data:image/png;base64,{png}'>")
    comp = comparison_table(data)
    if len(comp):
        parts += ["<h2>Metrics</h2>", comp.to_html(index=False, float_format="%.4g")]
    if len(data.winrates):
        parts += ["<h2>Win-rates</h2>", data.winrates.to_html(index=False, float_format="%.3g")]
    parts += ["<h2>Provenance</h2><pre>",
              esc(json.dumps(data.provenance, indent=2, default=str)), "</pre></body></html>"]
    return "\n".join(parts)


def render_json(data: ReportData) -> str:
    def records(df):
        return [] if df is None else json.loads(df.to_json(orient="records"))

    return json.dumps({
        "run": data.run, "baseline": data.baseline, "checkpoint": data.checkpoint,
        "passed": data.passed, "gates": [g.to_dict() for g in data.gates],
        "summary": records(data.summary), "comparison": records(comparison_table(data)),
        "winrates": records(data.winrates), "correlations": records(data.correlations),
        "training": records(data.training), "provenance": data.provenance,
        "failed_checkpoints": data.failed, "coverage": records(data.coverage),
    }, indent=2, default=str, allow_nan=False)


def render_junit(data: ReportData) -> str:
    x = xml_text  # ElementTree escapes <>&" but would write control characters as they are
    suite = ET.Element("testsuite", name=x(f"rlhf-eval gates: {data.run}"),
                       tests=str(len(data.gates)),
                       failures=str(sum(not g.passed for g in data.gates)), errors="0")
    for g in data.gates:
        case = ET.SubElement(suite, "testcase", classname=x(f"rlhf_eval.gates.{data.run}"),
                             name=x(f"{g.gate.spec} @ {g.checkpoint}"))
        if not g.passed:
            fail = ET.SubElement(case, "failure", message=x(f"{g.gate.metric} regressed"),
                                 type="GateFailure")
            fail.text = x(g.message)
        else:
            ET.SubElement(case, "system-out").text = x(g.message)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


RENDERERS = {"md": (render_markdown, "report.md"), "html": (render_html, "report.html"),
             "json": (render_json, "report.json"), "junit": (render_junit, "junit.xml")}


def write_report(data: ReportData, out_dir: str | Path, formats=("md", "html", "json", "junit")
                 ) -> dict[str, Path]:
    """Render every format, then publish them together; returns format -> path.

    All or nothing: the files are rendered in memory, written and fsynced into a temporary
    folder beside them, and only when every one is on disk are they renamed into place (a
    rename needs no space). A full disk or any error leaves the previous report untouched,
    never a new report.md beside an old report.html."""
    from .io import publish_into

    texts = {fmt: (RENDERERS[fmt][1], RENDERERS[fmt][0](data)) for fmt in formats}
    with publish_into(out_dir) as tmp:
        for name, text in texts.values():
            (tmp / name).write_text(text, encoding="utf-8")
    return {fmt: Path(out_dir) / name for fmt, (name, _) in texts.items()}


# ------------------------------------------------------------------------------ collection


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, dict):  # {"rows": [...]} or {"correlations": [...]}
        doc = doc.get("rows") or doc.get("correlations") or doc.get("table") or []
    return pd.DataFrame(doc)


def find_correlations(run_dir: Path | None, explicit: str | None) -> pd.DataFrame | None:
    """Correlation tables to show: an explicit file, else every ``correlations.json`` written by
    ``rlhf-eval correlate --out RUN/correlation/<dataset>``; a ``dataset`` column says which."""
    from .errors import DataError

    if explicit:
        candidates = [Path(explicit)]
    elif run_dir is not None and (run_dir / "correlation").is_dir():
        candidates = sorted((run_dir / "correlation").rglob("correlations.json"))
    else:
        candidates = []
    needed = {"metric", "aspect", "level", "method", "value"}
    tables = []
    for path in candidates:
        if not path.is_file():
            raise DataError("correlation table not found", path=str(path))
        table = _read_table(path)
        if not needed <= set(table.columns):
            raise DataError(f"expected columns {sorted(needed)}, found {list(table.columns)}",
                            path=str(path))
        tables.append(table.assign(dataset=path.parent.name))
    return pd.concat(tables, ignore_index=True) if tables else None


def read_training_log(run_dir: Path | None) -> pd.DataFrame | None:
    from .runs import metrics_path, read_metrics

    if run_dir is None or metrics_path(run_dir) is None:
        return None
    rows = read_metrics(run_dir)
    return pd.DataFrame(rows) if rows else None


def gate_directions(directions: dict[str, bool | None], metrics) -> dict[str, bool]:
    """Which side of a drop gate is "better", from the directions the store recorded from
    each Metric. A diagnostic with no better side (None, e.g. ``kl``) gates as
    lower-is-better: a drop gate on KL bounds how far the policy moved from the reference.
    A score whose direction was never recorded counts as higher-is-better."""
    return {m: True if m not in directions else bool(directions[m]) for m in metrics}


def build_report_data(*, run_dir: Path | None = None, store_path: Path | None = None,
                      run_name: str | None = None, baseline: str | None = None,
                      checkpoint: str | None = None, gate_specs=(), gate_file=None,
                      significance: bool = True, confidence: float = 0.95,
                      correlations: str | None = None, seed: int = 0) -> ReportData:
    """Collect everything a report shows from the results store and the run folder.

    Every number comes from one read transaction (:meth:`ResultsStore.snapshot`), so a report
    written while ``eval`` runs is consistent with itself; comparisons use only samples scored
    on both sides; a partly scored or failed checkpoint is shown as such and fails its gates."""
    from .errors import DataError
    from .gates import check_confidence, load_gates, parse_gate
    from .store import ResultsStore

    store_path = store_path or (run_dir / "results.sqlite")
    if not Path(store_path).is_file():
        raise DataError("no results store here; run `rlhf-eval eval --run RUN` first",
                        path=str(store_path))
    gates = [parse_gate(s, significance=significance) for s in gate_specs]
    options: dict[str, Any] = {}
    if gate_file:
        file_gates, options = load_gates(gate_file)
        gates += file_gates
    confidence = check_confidence(options.get("confidence", confidence))

    with ResultsStore(store_path, readonly=True) as store, store.snapshot():
        snap = _read_snapshot(store, store_path, run_name, confidence=confidence, seed=seed)
    run, cks, failed = snap["run"], snap["checkpoints"], snap["failed"]
    scores, summary = snap["scores"], snap["summary"]
    base_rows = cks[cks["is_baseline"] == 1]
    baseline = baseline or options.get("baseline") or (
        base_rows["checkpoint"].iloc[0] if len(base_rows) else cks["checkpoint"].iloc[0])
    wanted = _judged_checkpoint(checkpoint or options.get("checkpoint", "last"), cks, failed,
                                store_path)
    known = set(cks["checkpoint"]) | {f["checkpoint"] for f in failed}
    for name, what in ((baseline, "baseline"), (wanted, "checkpoint")):
        if name not in known:
            raise ConfigError(f"{what} {name!r} not in run {run!r}; it has "
                              f"{list(cks['checkpoint'])}")
    coverage = coverage_table(scores, snap["expected"], cks["checkpoint"])
    from .gates import WINRATE_PREFIX, evaluate_winrate_gate

    score_gates = [g for g in gates if not g.metric.startswith(WINRATE_PREFIX)]
    results = judge_gates(score_gates, scores, coverage, failed, directions=snap["directions"],
                          checkpoint=wanted, baseline=baseline, confidence=confidence, seed=seed)
    # winrate:JUDGE<VALUE gates read the store's win-rate rows (scores, humans, LLM judges)
    results += [evaluate_winrate_gate(g, snap["winrates"], checkpoint=wanted, baseline=baseline,
                                      confidence=confidence)
                for g in gates if g.metric.startswith(WINRATE_PREFIX)]
    return ReportData(
        run=run, baseline=baseline, checkpoint=wanted, summary=summary,
        winrates=snap["winrates"], correlations=find_correlations(run_dir, correlations),
        training=read_training_log(run_dir), gates=results,
        provenance=provenance(run_dir, scores),
        comparison=paired_comparison(scores, coverage, baseline=baseline, checkpoint=wanted,
                                     confidence=confidence, seed=seed),
        coverage=coverage, failed=failed)


def _read_snapshot(store, store_path, run_name: str | None, *, confidence: float,
                   seed: int) -> dict[str, Any]:
    """Everything the report reads from the store (call inside one snapshot)."""
    from .errors import DataError
    from .store import REFERENCES

    runs = store.runs()
    if runs.empty:
        raise DataError("the results store holds no run", path=str(store_path))
    run = run_name or runs["run"].iloc[0]
    if run not in set(runs["run"]):
        raise ConfigError(f"run {run!r} not in the store; it has {sorted(runs['run'])}")
    gens = store.generations(run)
    expected = set(gens.loc[gens["checkpoint"] != REFERENCES, "sample_id"])
    return {"run": run, "checkpoints": store.checkpoints(run=run).sort_values("step"),
            "failed": sorted(store.eval_failures(run), key=lambda f: f["step"]),
            "scores": store.scores_frame(run=run), "expected": expected,
            "summary": store.checkpoint_summary(run=run, confidence=confidence, seed=seed),
            "winrates": store.winrates(run=run), "directions": store.directions()}


def _judged_checkpoint(wanted: str, cks: pd.DataFrame, failed: list[dict], store_path) -> str:
    """``last`` is the newest checkpoint by step, a failed one included: a checkpoint that did
    not load must fail the gates, not hand them to the one before it."""
    from .errors import DataError

    if wanted != "last":
        return wanted
    trained = cks[(cks["is_baseline"] != 1) & (cks["kind"] != "references")]
    candidates = [(int(r.step), r.checkpoint) for r in trained.itertuples()]
    candidates += [(int(f["step"]), f["checkpoint"]) for f in failed]
    if not candidates:
        raise DataError("the run has no evaluated checkpoint besides the baseline",
                        path=str(store_path))
    return max(candidates)[1]


def coverage_table(scores: pd.DataFrame, expected: set, checkpoints=()) -> pd.DataFrame:
    """Per (checkpoint, metric): samples with a score row (NULL counts: scored, undefined)
    against the samples the run evaluates; ``partial`` when some are not scored yet."""
    cols = ["checkpoint", "metric", "n_scored", "n_expected", "partial"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    from .store import REFERENCES

    sc = scores[scores["checkpoint"] != REFERENCES]
    n = sc.groupby(["checkpoint", "metric"])["sample_id"].nunique()
    # every checkpoint x metric, so one with nothing scored yet shows as 0, not as absent
    names = sorted((set(checkpoints) | set(sc["checkpoint"])) - {REFERENCES})
    full = pd.MultiIndex.from_product([names, sorted(sc["metric"].unique())],
                                      names=["checkpoint", "metric"])
    out = n.reindex(full, fill_value=0).rename("n_scored").reset_index()
    # a metric's expected count: every generated sample, or more if scored ones are not
    # (yet) visible as generations of the current settings
    most = out.groupby("metric")["n_scored"].transform("max")
    out["n_expected"] = np.maximum(most, len(expected))
    out["partial"] = out["n_scored"] < out["n_expected"]
    return out[cols]


def _coverage_of(coverage: pd.DataFrame, checkpoint: str, metric: str) -> tuple[int, int]:
    row = coverage[(coverage["checkpoint"] == checkpoint) & (coverage["metric"] == metric)]
    if row.empty:
        exp = coverage.loc[coverage["metric"] == metric, "n_expected"]
        return 0, int(exp.max()) if len(exp) else 0
    return int(row["n_scored"].iloc[0]), int(row["n_expected"].iloc[0])


def judge_gates(gates, scores: pd.DataFrame, coverage: pd.DataFrame, failed: list[dict], *,
                directions: dict, checkpoint: str, baseline: str, confidence: float, seed: int
                ) -> list[GateResult]:
    """Evaluate gates; a failed or partly scored side fails the gate with the reason."""
    from .gates import evaluate_gates

    if not gates:
        return []
    failures = {f["checkpoint"]: f for f in failed}
    unknown = [g for g in gates if g.metric not in set(scores["metric"])]
    if unknown:  # a usage error whatever the coverage: evaluate_gates names close metrics
        evaluate_gates(unknown, scores, checkpoint=checkpoint, baseline=baseline)
    results = []
    for gate in gates:
        sides = [checkpoint] + ([baseline] if gate.max_drop is not None else [])
        reason = None
        for side in sides:
            if side in failures:
                reason = (f"checkpoint {side!r} failed to evaluate "
                          f"({' '.join(str(failures[side]['error']).split())[:300]}); "
                          "the gate is not checked on stale or missing results")
                break
            got, want = _coverage_of(coverage, side, gate.metric)
            if got < want:
                reason = (f"{side!r} is partial: {gate.metric} scored on {got} of {want} "
                          "samples (is `rlhf-eval eval` still running?); a partial checkpoint "
                          "is never gated as complete")
                break
        if reason is not None:
            results.append(GateResult(gate, checkpoint, baseline, False, float("nan"), None,
                                      None, None, None, 0, f"{gate.metric}: {reason}"))
            continue
        results += evaluate_gates([gate], scores, checkpoint=checkpoint, baseline=baseline,
                                  higher_is_better=gate_directions(directions, [gate.metric]),
                                  confidence=confidence, seed=seed)
    return results


def paired_comparison(scores: pd.DataFrame, coverage: pd.DataFrame, *, baseline: str,
                      checkpoint: str, confidence: float, seed: int) -> pd.DataFrame:
    """Baseline vs checkpoint per metric over the samples scored (non-missing) on both: the
    same samples the gates judge, so the table and the gates always agree on n."""
    from .stats import bootstrap_ci

    cols = ["metric", "baseline", "checkpoint", "change", "ci_low", "ci_high", "n", "partial"]
    rows = []
    if scores.empty:
        return pd.DataFrame(columns=cols)
    for metric, grp in scores.groupby("metric", sort=True):
        per = {ck: g.dropna(subset=["value"]).set_index("sample_id")["value"]
               for ck, g in grp.groupby("checkpoint") if ck in (baseline, checkpoint)}
        b, c = per.get(baseline), per.get(checkpoint)
        shared = sorted(set(b.index) & set(c.index)) if b is not None and c is not None else []
        bm = cm = lo = hi = float("nan")
        if shared:
            bm, cm = float(b.loc[shared].mean()), float(c.loc[shared].mean())
            ci = bootstrap_ci(c.loc[shared].to_numpy(dtype=float), seed=seed,
                              confidence=confidence)
            lo, hi = ci.low, ci.high
        partial = []
        for side in (baseline, checkpoint):
            got, want = _coverage_of(coverage, side, metric)
            if got < want:
                partial.append(f"{side} {got}/{want}")
        rows.append({"metric": metric, "baseline": bm, "checkpoint": cm, "change": cm - bm,
                     "ci_low": lo, "ci_high": hi, "n": len(shared),
                     "partial": ", ".join(partial)})
    return pd.DataFrame(rows, columns=cols)
