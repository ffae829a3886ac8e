"""Eval metrics to the experiment trackers people already watch: TensorBoard and W&B.

    rlhf-eval eval --run runs/ppo --tensorboard runs/ppo/tb          # event files
    rlhf-eval eval --run runs/ppo --wandb rlhf-evals                 # offline W&B run

One point per checkpoint and metric, at the checkpoint's *training step* (the trackers'
convention, so the eval curves line up with the training curves of the same run), under
``eval/<metric>`` (the mean) plus ``eval/<metric>_ci_low``/``_ci_high``; win-rates under
``eval/winrate/<judge>_vs_<baseline>``. The references pseudo-checkpoint (no step) is left
out. W&B runs offline unless ``WANDB_MODE`` says otherwise (``wandb sync`` uploads them later):
nothing here needs a network. Both packages are optional (``pip install rlhf-eval[tracking]``);
asking for a tracker that is not installed is a :class:`ConfigError` before any model runs.
"""
from __future__ import annotations

import importlib.util
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from ..errors import ConfigError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}   # name -> the package it needs


def check_available(name: str) -> str | None:
    """A problem message when the tracker's package is not installed (else None)."""
    package = TRACKERS[name]
    if importlib.util.find_spec(package) is None:
        return (f"--{name}: the {package!r} package is not installed (pip install "
                f"'rlhf-eval[tracking]')")
    return None


def points(summary: pd.DataFrame, winrates: pd.DataFrame | None = None,
           tie_policy: str = "half") -> dict[int, dict[str, float]]:
    """step -> {tag: value}: what a tracker logs (only checkpoints with a step >= 0)."""
    out: dict[int, dict[str, float]] = defaultdict(dict)
    rows = summary[summary["step"] >= 0]
    for step, metric, mean, lo, hi in zip(rows["step"], rows["metric"], rows["mean"],
                                          rows["ci_low"], rows["ci_high"]):
        for tag, value in ((metric, mean), (f"{metric}_ci_low", lo), (f"{metric}_ci_high", hi)):
            if value == value and value is not None:  # NaN (missing) is not logged
                out[int(step)][f"eval/{tag}"] = float(value)
    if winrates is not None and len(winrates):
        steps = dict(zip(summary["checkpoint"], summary["step"]))
        wr = winrates[winrates["tie_policy"] == tie_policy]
        for ck, base, judge, value in zip(wr["checkpoint"], wr["baseline"], wr["judge"],
                                          wr["winrate"]):
            step = steps.get(ck)
            if step is not None and step >= 0 and value == value:
                out[int(step)][f"eval/winrate/{judge}_vs_{base}"] = float(value)
    return dict(sorted(out.items()))


def log_tensorboard(logdir: str | os.PathLike, pts: dict[int, dict[str, float]]) -> Path:
    """Write the points as TensorBoard scalars (one event file per call)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(logdir))
    try:
        for step, tags in pts.items():
            for tag, value in tags.items():
                writer.add_scalar(tag, value, global_step=step)
    finally:
        writer.close()
    return Path(logdir)


def log_wandb(project: str, run_name: str, pts: dict[int, dict[str, float]], *,
              directory: str | os.PathLike | None = None, config: dict | None = None) -> str:
    """Log the points to a W&B run (offline unless WANDB_MODE is set); returns its folder."""
    import wandb

    mode = os.environ.get("WANDB_MODE", "offline")
    run = wandb.init(project=project, name=run_name, mode=mode, config=config or {},
                     dir=str(directory) if directory else None, reinit="finish_previous")
    try:
        for step, tags in pts.items():  # ascending: W&B steps only go forward
            run.log(tags, step=step)
    finally:
        run.finish()
    return str(run.dir)


def validate_trackers(tensorboard: str | None, wandb_project: str | None) -> list[str]:
    problems = []
    if tensorboard:
        problems += [p for p in [check_available("tensorboard")] if p]
    if wandb_project:
        problems += [p for p in [check_available("wandb")] if p]
    return problems


def require(tensorboard: str | None, wandb_project: str | None) -> None:
    problems = validate_trackers(tensorboard, wandb_project)
    if problems:
        raise ConfigError("; ".join(problems), problems=problems)
