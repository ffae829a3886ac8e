"""Data for the Runs page: metric trends, win-rates, the reward-KL frontier.

Two sources, both optional:
- the results store (`checkpoint_summary`: one row per run x checkpoint x metric, bootstrap CI);
- a PPO run's ``metrics.jsonl`` (one JSON object per logged step with ``objective/kl``,
  ``objective/scores`` = the proxy RM reward and, on lab data, ``objective/gold``).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..runs import iter_metrics, metrics_path

# metrics.jsonl key -> column; the keys follow TRL's PPO logging names. The proxy is the raw RM
# score: ``objective/rm_score`` where logged (``objective/scores`` may include penalties, e.g.
# for a missing EOS), else ``objective/scores`` as TRL logs it.
PPO_KEYS = {"objective/kl": "kl", "objective/gold": "gold"}
PROXY_KEYS = ("objective/rm_score", "objective/scores")
STEP_KEYS = ("step", "global_step", "update", "episode")


def read_ppo_metrics(path: str | Path) -> pd.DataFrame:
    """Read ``metrics.jsonl`` into columns step, kl, proxy, gold (NaN when not logged).

    Lines without ``objective/kl`` (e.g. evaluation-only records) are skipped; a line that is
    not JSON, or a value that is not a number, raises DataError with file, line and field.
    """
    path = Path(path)
    rows = []
    for lineno, rec in iter_metrics(path):
        if "objective/kl" not in rec:
            continue
        row = {"step": _step(rec, len(rows))}
        for key, col in PPO_KEYS.items():
            row[col] = _number(rec.get(key), path, lineno, key)
        proxy_key = next((k for k in PROXY_KEYS if k in rec), PROXY_KEYS[-1])
        row["proxy"] = _number(rec.get(proxy_key), path, lineno, proxy_key)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["step", "kl", "proxy", "gold"])
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


def _step(rec: dict, index: int) -> int:
    for key in STEP_KEYS:
        if isinstance(rec.get(key), (int, float)) and not isinstance(rec.get(key), bool):
            return int(rec[key])
    return index


def _number(value, path: Path, lineno: int, field: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"expected a number, found {type(value).__name__} {value!r:.40}",
                        path=str(path), line=lineno, field=field)
    return float(value)


def find_ppo_metrics(run_paths: dict[str, str | None]) -> dict[str, Path]:
    """run -> metrics.jsonl for the runs whose folder has one."""
    found = {}
    for run, folder in run_paths.items():
        if folder and metrics_path(folder) is not None:
            found[run] = metrics_path(folder)
    return found


def wide_summary(summary: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """checkpoint_summary (long) -> one row per run x checkpoint with a column per metric mean."""
    cols = ["run", "checkpoint", "step"]
    part = summary[summary["metric"].isin(metrics)]
    if part.empty:
        return pd.DataFrame(columns=cols + metrics)
    wide = part.pivot_table(index=cols, columns="metric", values="mean", aggfunc="first")
    wide = wide.reindex(columns=metrics).reset_index()
    wide.columns.name = None
    return wide.sort_values(["run", "step"], kind="stable").reset_index(drop=True)


def frontier_from_summary(summary: pd.DataFrame,
                          checkpoints: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per checkpoint: mean KL, mean proxy reward (metric ``reward``), mean gold (if any).

    Rows without a KL are dropped (the ``references`` pseudo-checkpoint has none); the baseline
    (``is_baseline`` in ``checkpoints``, else the checkpoint named ``baseline``) is kept with
    KL 0 when the store has no KL for it: it is the reference policy, so its KL is 0 by definition.
    """
    cols = ["run", "checkpoint", "step", "kl", "proxy", "gold"]
    wide = wide_summary(summary, ["kl", "reward", "gold"]).rename(columns={"reward": "proxy"})
    if wide.empty:
        return pd.DataFrame(columns=cols)
    if checkpoints is not None and not checkpoints.empty:
        base = set(map(tuple, checkpoints.loc[checkpoints["is_baseline"].astype(bool),
                                              ["run", "checkpoint"]].values))
    else:
        base = {(r, "baseline") for r in wide["run"]}
    is_base = pd.Series([(r, c) in base for r, c in zip(wide["run"], wide["checkpoint"])],
                        index=wide.index)
    wide.loc[is_base & wide["kl"].isna(), "kl"] = 0.0
    return wide.dropna(subset=["kl"])[cols].reset_index(drop=True)


def with_sqrt_kl(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["sqrt_kl"] = out["kl"].clip(lower=0.0) ** 0.5
    return out


def gold_at_init(frame: pd.DataFrame) -> float:
    """Gold of the point closest to KL 0 (the initial policy), for the fit's offset."""
    rows = frame.dropna(subset=["gold", "kl"])
    if rows.empty:
        return math.nan
    return float(rows.loc[rows["kl"].abs().idxmin(), "gold"])
