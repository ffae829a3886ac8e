"""Atomic run-folder checkpoints: ``runs/<name>/checkpoint-<step>/``.

A checkpoint is written under ``checkpoint-<step>.tmp``, every file fsynced, then renamed in one
``os.replace``; the parent folder is fsynced so the rename survives a crash. A kill at any
moment leaves either the old set of checkpoints or the old set plus the new one; stray ``.tmp``
folders are ignored and removed by the next save. The newest complete checkpoint is found by
name (the largest step among ``checkpoint-<digits>`` folders holding ``trainer_state.json``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable

_NAME = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        m = _NAME.match(child.name)
        if m and child.is_dir() and (child / STATE_FILE).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def relative_to_run(value, run_dir: str | Path):
    """A path recorded in run.json. A relative path (relative to wherever training was
    launched, meaningless later) becomes relative to the run folder, so the run can be moved
    or copied together with what it points to; an absolute path, a Hub id or ``<in-memory>``
    is kept as given."""
    if not isinstance(value, (str, os.PathLike)) or str(value).startswith("<") \
            or os.path.isabs(value) or not os.path.exists(value):
        return value
    try:
        return os.path.relpath(Path(value).resolve(), Path(run_dir).resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(value).resolve())
