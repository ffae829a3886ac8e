"""Regression gates for CI: per-metric thresholds on a checkpoint against the baseline.

A gate is parsed from a short string (``--fail-on``) or a YAML list:

    gold:drop>0.02        fail if gold drops by more than 0.02 (absolute) against the baseline
    rougeL:drop>5%        fail if ROUGE-L drops by more than 5% of the baseline's mean
    reward:drop>0         fail on any drop
    kl:>12                fail if the checkpoint's mean KL is above 12 (an absolute bound)
    distinct_2:<0.3       fail if the checkpoint's mean distinct-2 is below 0.3

"Drop" follows the metric's direction: for a lower-is-better metric (e.g. ``repetition``) a
drop is an increase. Gates are significance-aware by default: a drop gate fails only when the
bootstrap confidence interval of the paired per-sample difference (checkpoint - baseline, same
prompts) lies entirely beyond the allowed drop, i.e. when we are confident the regression is
real and larger than allowed. ``significance: false`` compares the mean difference instead.

YAML form::

    gates:
      - {metric: gold, max_drop: 0.02}
      - {metric: rougeL, max_drop: 5, relative: true, significance: false}
      - {metric: kl, max: 12}
    checkpoint: last          # or a checkpoint name
    confidence: 0.95
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import ConfigError
from .stats import paired_bootstrap_ci

_METRIC_RE = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")
_GATE_RE = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_./-]+)\s*:\s*(?:(?P<drop>drop\s*>\s*)|(?P<op>[<>]))\s*"
    r"(?P<value>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(?P<pct>%)?\s*$")


WINRATE_PREFIX = "winrate:"


@dataclass(frozen=True)
class Gate:
    metric: str
    max_drop: float | None = None   # allowed drop against the baseline (metric units or %)
    relative: bool = False          # max_drop is a percentage of the baseline's mean
    max: float | None = None        # absolute upper bound on the checkpoint's mean
    min: float | None = None        # absolute lower bound on the checkpoint's mean
    significance: bool = True       # drop gates: fail only when the CI excludes the allowed drop

    def __post_init__(self):
        # strict types: YAML 'false' (a string) must not read as true, .nan must not make a
        # gate that can never fail, a bool is not a threshold
        name = self.metric[len(WINRATE_PREFIX):] if isinstance(self.metric, str) and \
            self.metric.startswith(WINRATE_PREFIX) else self.metric
        # a win-rate gate names a judge, which may hold ':' (llm:pairwise)
        if not isinstance(name, str) or not _METRIC_RE.match(name.replace(":", "_")):
            raise ConfigError(f"gate metric: expected a name of letters, digits and _./-, "
                              f"found {self.metric!r}")
        for name in ("relative", "significance"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(f"gate {self.metric!r}: {name} must be true or false, "
                                  f"found {value!r} ({type(value).__name__})")
        for name in ("max_drop", "max", "min"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"gate {self.metric!r}: {name} must be a number, found "
                                  f"{value!r} ({type(value).__name__})")
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number) or abs(number) > 1e300:
                raise ConfigError(f"gate {self.metric!r}: {name} must be a finite number, "
                                  f"found {_short(value)}")
            object.__setattr__(self, name, number)
        bounds = [self.max_drop is not None, self.max is not None, self.min is not None]
        if sum(bounds) != 1:
            raise ConfigError(f"gate {self.metric!r}: give exactly one of max_drop, max, min")
        if self.max_drop is not None and self.max_drop < 0:
            raise ConfigError(f"gate {self.metric!r}: max_drop must be >= 0, found {self.max_drop}")

    @property
    def spec(self) -> str:
        if self.metric.startswith(WINRATE_PREFIX) and self.min is not None:
            return f"{self.metric}<{self.min:g}"
        if self.max_drop is not None:
            return f"{self.metric}:drop>{self.max_drop:g}{'%' if self.relative else ''}"
        return f"{self.metric}:{'>' if self.max is not None else '<'}" \
               f"{self.max if self.max is not None else self.min:g}"


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    checkpoint: str
    baseline: str
    passed: bool
    value: float               # checkpoint mean
    baseline_value: float | None
    diff: float | None         # mean paired difference, oriented so that > 0 is better
    ci_low: float | None
    ci_high: float | None
    n: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: an undefined number (e.g. the CI of a single sample) becomes None."""
        d = dataclasses.asdict(self)
        d["gate"] = self.gate.spec
        return {k: None if isinstance(v, float) and not np.isfinite(v) else v
                for k, v in d.items()}


_WINRATE_RE = re.compile(r"^\s*winrate:(?P<judge>[^<>\s]+)\s*<\s*(?P<value>\d*\.?\d+)\s*$")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10 ** 50 else \
        f"an integer of {len(str(abs(value)))} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def parse_gate(text: str, *, significance: bool = True) -> Gate:
    if text.strip().startswith(WINRATE_PREFIX):
        # winrate:JUDGE<0.45: fail when the checkpoint's win-rate vs the baseline under JUDGE
        # (a score, 'human' or an LLM judge such as llm:pairwise) is below 0.45
        w = _WINRATE_RE.match(text)
        if not w or not 0.0 <= float(w["value"]) <= 1.0:
            raise ConfigError(f"cannot parse gate {text!r}; expected winrate:JUDGE<VALUE with "
                              "VALUE in [0, 1] (e.g. 'winrate:llm:pairwise<0.45')")
        return Gate(WINRATE_PREFIX + w["judge"], min=float(w["value"]), significance=significance)
    m = _GATE_RE.match(text)
    if not m:
        raise ConfigError(
            f"cannot parse gate {text!r}; expected METRIC:drop>VALUE[%], METRIC:>VALUE or "
            "METRIC:<VALUE (e.g. 'gold:drop>0.02', 'rougeL:drop>5%', 'kl:>12')")
    metric, value, pct = m["metric"], float(m["value"]), bool(m["pct"])
    if m["drop"]:
        return Gate(metric, max_drop=value, relative=pct, significance=significance)
    if pct:
        raise ConfigError(f"gate {text!r}: '%' is only meaningful for drop gates")
    return Gate(metric, max=value) if m["op"] == ">" else Gate(metric, min=value)


def load_gates(path: str | Path) -> tuple[list[Gate], dict[str, Any]]:
    """Gates and options (checkpoint, confidence) from a YAML file; errors name the entry."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except RecursionError:
        raise ConfigError(f"{path}: cannot read gate file: nested too deeply") from None
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read gate file: {exc}") from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("gates"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'gates' list")
    unknown = set(doc) - {"gates", "checkpoint", "confidence", "baseline"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}")
    gates = []
    known = {f.name for f in dataclasses.fields(Gate)}
    for i, entry in enumerate(doc["gates"]):
        where = f"{path}: gates[{i}]"
        if isinstance(entry, str):
            try:
                gates.append(parse_gate(entry))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            continue
        if not isinstance(entry, Mapping) or "metric" not in entry:
            raise ConfigError(f"{where}: expected a mapping with 'metric' or a string spec")
        bad = set(entry) - known
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {sorted(bad)}; expected {sorted(known)}")
        try:
            gates.append(Gate(**entry))
        except (TypeError, ConfigError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    options = {k: doc[k] for k in ("checkpoint", "confidence", "baseline") if k in doc}
    for key in ("checkpoint", "baseline"):
        if key in options and not isinstance(options[key], str):
            raise ConfigError(f"{path}: {key} must be a checkpoint name (a string), found "
                              f"{options[key]!r}")
    if "confidence" in options:
        options["confidence"] = check_confidence(options["confidence"], f"{path}: confidence")
    return gates, options


def check_confidence(value: Any, where: str = "confidence") -> float:
    """A confidence level strictly between 0 and 1 (a bool or a string is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < float(value) < 1:
        raise ConfigError(f"{where}: expected a number strictly between 0 and 1, found "
                          f"{value!r}")
    return float(value)


# ------------------------------------------------------------------------------- evaluation


def evaluate_gate(gate: Gate, checkpoint_scores: Mapping[str, float],
                  baseline_scores: Mapping[str, float] | None, *, higher_is_better: bool = True,
                  checkpoint: str = "", baseline: str = "", confidence: float = 0.95,
                  seed: int = 0) -> GateResult:
    """Check one gate. Scores are per-sample values keyed by sample id (NaN/None = missing)."""
    ck = {k: v for k, v in checkpoint_scores.items() if v is not None and np.isfinite(v)}
    if not ck:
        raise ConfigError(f"gate {gate.spec}: no scores for metric {gate.metric!r} at "
                          f"checkpoint {checkpoint!r}")
    value = float(np.mean(list(ck.values())))
    if gate.max_drop is None:
        passed = value <= gate.max if gate.max is not None else value >= gate.min
        bound = f"<= {gate.max:g}" if gate.max is not None else f">= {gate.min:g}"
        msg = (f"{gate.metric} = {value:.4g} at {checkpoint} (required {bound})")
        return GateResult(gate, checkpoint, baseline, passed, value, None, None, None, None,
                          len(ck), msg)

    if not baseline_scores:
        raise ConfigError(f"gate {gate.spec}: the baseline {baseline!r} has no {gate.metric!r} "
                          "scores to compare against")
    shared = sorted(set(ck) & {k for k, v in baseline_scores.items()
                               if v is not None and np.isfinite(v)})
    if not shared:
        raise ConfigError(f"gate {gate.spec}: {checkpoint!r} and {baseline!r} share no samples")
    sign = 1.0 if higher_is_better else -1.0
    diffs = sign * (np.array([ck[k] for k in shared]) - np.array([baseline_scores[k]
                                                                   for k in shared]))
    base_mean = float(np.mean([baseline_scores[k] for k in shared]))
    allowed = gate.max_drop * abs(base_mean) / 100 if gate.relative else gate.max_drop
    mean_diff = float(diffs.mean())
    lo, hi = paired_bootstrap_ci(diffs, confidence=confidence, seed=seed)
    if gate.significance and np.isfinite(hi):
        # Fail only when even the optimistic end of the interval is a larger drop than allowed.
        passed = not (hi < -allowed)
        rule = f"fails if the {confidence:.0%} CI upper end < -{allowed:.4g}"
    else:
        passed = not (mean_diff < -allowed)
        rule = f"fails if the mean change < -{allowed:.4g}"
    msg = (f"{gate.metric}: change {mean_diff:+.4g} (CI {lo:+.4g} .. {hi:+.4g}, n={len(shared)}) "
           f"at {checkpoint} vs {baseline}; {rule}")
    return GateResult(gate, checkpoint, baseline, passed, value, base_mean, mean_diff, lo, hi,
                      len(shared), msg)


def evaluate_gates(gates: Iterable[Gate], scores, *, checkpoint: str, baseline: str,
                   higher_is_better: Mapping[str, bool] | None = None,
                   confidence: float = 0.95, seed: int = 0) -> list[GateResult]:
    """``scores``: tidy DataFrame with columns checkpoint, sample_id, metric, value."""
    results = []
    hib = higher_is_better or {}
    known = sorted(scores["metric"].unique())
    for gate in gates:
        if gate.metric not in known:
            import difflib

            close = difflib.get_close_matches(gate.metric, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"gate {gate.spec}: unknown metric {gate.metric!r}{hint}; "
                              f"the store has {', '.join(known)}")
        rows = scores[scores["metric"] == gate.metric]
        per = {ck: dict(zip(g["sample_id"], g["value"].astype(float)))
               for ck, g in rows.groupby("checkpoint")}
        results.append(evaluate_gate(
            gate, per.get(checkpoint, {}), per.get(baseline), checkpoint=checkpoint,
            baseline=baseline, higher_is_better=hib.get(gate.metric, True),
            confidence=confidence, seed=seed))
    return results


def evaluate_winrate_gate(gate: Gate, winrates, *, checkpoint: str, baseline: str,
                          confidence: float = 0.95) -> GateResult:
    """A ``winrate:JUDGE<VALUE`` gate on the store's win-rate rows (ties as half a win).
    Significance-aware like the drop gates: it fails only when the whole interval lies below
    VALUE (``significance: false``: when the estimate does)."""
    judge = gate.metric[len(WINRATE_PREFIX):]
    rows = winrates[(winrates["judge"] == judge) & (winrates["checkpoint"] == checkpoint) &
                    (winrates["baseline"] == baseline) & (winrates["tie_policy"] == "half")]
    if rows.empty:
        known = sorted(set(winrates["judge"])) if len(winrates) else []
        raise ConfigError(f"gate {gate.spec}: no win-rate of {checkpoint!r} vs {baseline!r} "
                          f"under judge {judge!r} in the store (judges: {', '.join(known) or 'none'};"
                          " `rlhf-eval winrate --llm ...` writes LLM-judge rows)")
    r = rows.iloc[0]
    value, lo, hi = float(r["winrate"]), float(r["ci_low"]), float(r["ci_high"])
    bad = (hi < gate.min) if gate.significance and np.isfinite(hi) else (value < gate.min)
    rule = (f"fails if the {confidence:.0%} CI upper end < {gate.min:g}" if gate.significance
            else f"fails if the win-rate < {gate.min:g}")
    msg = (f"win-rate under {judge}: {value:.3f} (CI {lo:.3f} .. {hi:.3f}, n={int(r['n'])}) at "
           f"{checkpoint} vs {baseline}; {rule}")
    return GateResult(gate, checkpoint, baseline, not bad, value, None, None, lo, hi,
                      int(r["n"]), msg)
