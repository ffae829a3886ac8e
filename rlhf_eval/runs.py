"""The run-folder contract, shared by every trainer, ``eval``, ``report`` and the dashboard.

A run folder holds
- ``run.json``: where the models came from and the trainer's config (written atomically);
- ``checkpoint-<step>/``: loadable with ``from_pretrained``; published atomically (written under
  ``checkpoint-<step>.tmp``, every file fsynced, then renamed in one ``os.replace`` and the
  parent folder fsynced), so a kill at any moment leaves the old set of checkpoints or the old
  set plus the new one; stray ``.tmp`` folders are ignored and removed by the next save;
- ``metrics.jsonl``: one JSON object per logged step (SFT, RM training, PPO alike; keys are the
  trainer's own, e.g. TRL's ``objective/kl`` for PPO), read back by :func:`read_metrics`.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Iterator

from .errors import DataError
from .io import _fsync_dir, atomic_write_text

log = logging.getLogger(__name__)

RUN_JSON = "run.json"
METRICS = "metrics.jsonl"
STATE_FILE = "trainer_state.json"  # a PPO checkpoint is complete (resumable) when it holds this
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")

# ------------------------------------------------------------------------------- run.json


def read_run_json(run_dir: str | Path) -> dict:
    """The run's ``run.json`` as a dict ({} when there is none)."""
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError("expected an object", path=str(path))
    return data


def write_json(path: str | Path, data) -> None:
    """A small JSON file of the run (run.json, trainer state), written atomically. NaN is
    kept (as ``NaN``, which Python's json reads back): a logged metric may be undefined."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def write_run_json(run_dir: str | Path, data: dict) -> None:
    write_json(Path(run_dir) / RUN_JSON, data)


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_step(name: str) -> int | None:
    """The step of a ``checkpoint-<step>`` folder name, else None."""
    m = CHECKPOINT_RE.match(name)
    return int(m.group(1)) if m else None


def list_checkpoints(run_dir: str | Path, *, require: str | None = None
                     ) -> list[tuple[int, Path]]:
    """``(step, folder)`` of the run's ``checkpoint-<step>`` folders, oldest first; with
    ``require`` only those holding that file (e.g. :data:`STATE_FILE`: complete PPO ones)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        step = checkpoint_step(child.name)
        if step is not None and child.is_dir() and (require is None
                                                    or (child / require).is_file()):
            found.append((step, child))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete (resumable) checkpoint, by step."""
    found = list_checkpoints(run_dir, require=STATE_FILE)
    return found[-1][1] if found else None


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def save_atomically(run_dir: str | Path, step: int, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` then publish it as ``checkpoint-<step>``."""
    run_dir = Path(run_dir)
    final = run_dir / f"checkpoint-{step}"
    tmp = run_dir / f"checkpoint-{step}.tmp"
    for stale in run_dir.glob("checkpoint-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    _fsync_tree(tmp)
    if final.exists():  # re-saving a step (e.g. after resume): replace it whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(run_dir)
    return final


# ---------------------------------------------------------------------------- metrics.jsonl

# Leading CSV columns (PPO's, TRL names); any other metric follows in sorted order.
FIRST_COLUMNS = ["step", "episode", "lr", "objective/kl", "objective/entropy", "objective/scores",
                 "objective/non_score_reward", "objective/rlhf_reward", "policy/approxkl",
                 "policy/clipfrac", "loss/policy", "loss/value", "val/clipfrac", "val/ratio",
                 "val/num_eos_tokens"]


def _columns(rows: list[dict]) -> list[str]:
    keys = {k for row in rows for k in row}
    return [c for c in FIRST_COLUMNS if c in keys] + sorted(keys - set(FIRST_COLUMNS))


class MetricsLogger:
    """``metrics.jsonl`` of a run folder: one JSON object per logged row, flushed per line.

    ``history``: rows already logged (a resumed run passes its checkpoint's): the file is
    rewritten from them, so rows logged after the checkpoint by a killed process disappear and
    the file equals an uninterrupted run's. ``folder=None`` keeps the rows in memory only.
    Optional: ``metrics.csv`` next to it (rewritten per row: columns may grow) and TensorBoard
    (when installed). ``allow_nan=False`` refuses NaN/Infinity (not JSON) with a ValueError.
    """

    def __init__(self, folder: str | Path | None, history: list[dict] | None = None, *,
                 csv: bool = False, tensorboard: bool = False, allow_nan: bool = True):
        self.folder = Path(folder) if folder is not None else None
        self.rows: list[dict] = list(history or [])
        self.csv, self.allow_nan, self.tb = csv, allow_nan, None
        if self.folder is None:
            return
        atomic_write_text(self.folder / METRICS, "".join(self._line(r) for r in self.rows))
        if csv:
            self._write_csv()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.folder / "tensorboard"))
            except ImportError:  # tensorboard is optional
                log.debug("tensorboard not installed; logging to JSONL/CSV only")

    def _line(self, row: dict) -> str:
        return json.dumps(row, sort_keys=True, allow_nan=self.allow_nan) + "\n"

    def _write_csv(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_columns(self.rows) or ["step"])
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.folder / "metrics.csv", buf.getvalue())

    def log(self, row: dict) -> None:
        line = self._line(row)  # refuse a bad row before keeping it
        self.rows.append(row)
        if self.folder is None:
            return
        with open(self.folder / METRICS, "a", encoding="utf-8") as fh:
            fh.write(line)
        if self.csv:
            self._write_csv()
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def metrics_path(run_dir: str | Path) -> Path | None:
    """The run's ``metrics.jsonl``, or None when it has none."""
    path = Path(run_dir) / METRICS
    return path if path.is_file() else None


def iter_metrics(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(line number, row)`` of a ``metrics.jsonl`` (a file, or a run folder holding one).
    A line that is not a JSON object raises DataError with file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"expected a JSON object, found invalid JSON ({exc.msg})",
                                path=str(path), line=lineno) from None
            if not isinstance(rec, dict):
                raise DataError(f"expected a JSON object, found {type(rec).__name__}",
                                path=str(path), line=lineno)
            yield lineno, rec


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a ``metrics.jsonl`` (a file or a run folder), in file order."""
    return [row for _, row in iter_metrics(path)]
