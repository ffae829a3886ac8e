"""Where the dashboard's data comes from: the results store, opened per read.

The store path reaches the Streamlit process through the environment variable
``RLHF_EVAL_STORE`` (set by ``rlhf-eval dashboard``) or the script argument ``--store`` after
``--`` (``streamlit run dashboards/app.py -- --store PATH``). Reads open the SQLite file
read-only for the length of one query, so the dashboard never holds a lock the evaluation suite
would wait on; the only write is a pairwise label, one transaction each
(:meth:`ResultsStore.add_pairwise_label`), safe with several annotators at once because SQLite
serialises writers (WAL mode, busy timeout).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..store import DEFAULT_FILENAME, ResultsStore

ENV_STORE = "RLHF_EVAL_STORE"
DEFAULT_STORE = Path("runs") / "demo" / DEFAULT_FILENAME


def store_path_for(store: str | os.PathLike | None = None,
                   run: str | os.PathLike | None = None) -> Path:
    """``--store FILE`` wins; ``--run DIR`` means ``DIR/results.sqlite``; else the default."""
    if store is not None:
        p = Path(store)
        return p / DEFAULT_FILENAME if p.is_dir() else p
    if run is not None:
        return Path(run) / DEFAULT_FILENAME
    return DEFAULT_STORE


def configured_store(argv: Sequence[str] | None = None,
                     environ: dict | None = None) -> Path:
    """The store the app was started for: ``--store`` script argument, else the environment
    variable, else the default path."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    parser.add_argument("--run")
    args, _ = parser.parse_known_args(list(argv or []))
    if args.store or args.run:
        return store_path_for(args.store, args.run)
    env = os.environ if environ is None else environ
    if env.get(ENV_STORE):
        return store_path_for(env[ENV_STORE])
    return DEFAULT_STORE


ENV_ROOTS = "RLHF_EVAL_ROOTS"  # os.pathsep-separated folders the app may open stores under


class OutsideRoots(ValueError):
    """A store path typed into the app that lies outside the folders it was started with."""


def configured_roots(argv: Sequence[str] | None = None,
                     environ: dict | None = None) -> list[Path] | None:
    """Folders the app may open stores under: ``RLHF_EVAL_ROOTS`` (set by ``rlhf-eval
    dashboard`` from ``--run``/``--store``/``--root``), else the folder of a store given on the
    command line or in ``RLHF_EVAL_STORE``; None when the process was started with neither
    (then the session's first store decides, see ``widgets.store_path``)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_ROOTS):
        return [Path(p).resolve() for p in env[ENV_ROOTS].split(os.pathsep) if p]
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    parser.add_argument("--run")
    args, _ = parser.parse_known_args(list(argv or []))
    if args.store or args.run or env.get(ENV_STORE):
        return [configured_store(argv, env).resolve().parent]
    return None


def check_under_roots(path: str | os.PathLike, roots: Sequence[Path]) -> Path:
    """``path`` resolved (symlinks and ``..`` included) if it lies under one of ``roots``."""
    resolved = Path(path).expanduser().resolve()
    if not any(resolved == r or r in resolved.parents for r in roots):
        raise OutsideRoots(
            f"{path} is outside the folders this dashboard was started for "
            f"({', '.join(str(r) for r in roots)}); restart it with `rlhf-eval dashboard "
            "--root DIR` to allow another folder")
    return resolved


@dataclass(frozen=True)
class StoreState:
    path: Path
    exists: bool
    n_runs: int = 0
    n_generations: int = 0
    error: str | None = None

    @property
    def has_results(self) -> bool:
        return self.exists and self.error is None and self.n_generations > 0


def store_state(path: str | os.PathLike) -> StoreState:
    """Whether there is a store at ``path``, and whether it has anything to show."""
    path = Path(path)
    if not path.is_file():
        return StoreState(path, exists=False)
    try:
        with ResultsStore(path, readonly=True) as store:
            return StoreState(path, True, store.count("runs"), store.count("generations"))
    except Exception as exc:  # a broken file is shown to the user, never a traceback
        return StoreState(path, True, error=str(exc))


def version(path: str | os.PathLike) -> tuple:
    """Changes whenever the store is written (the database or its WAL): the cache key that
    makes a new checkpoint or label appear without restarting the app."""
    out = []
    for suffix in ("", "-wal"):
        p = Path(str(path) + suffix)
        try:
            st = p.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def read(path: str | os.PathLike, method: str, **kwargs) -> pd.DataFrame:
    """Call one read method of :class:`ResultsStore` on a short-lived read-only connection."""
    if method not in READ_METHODS:
        raise ValueError(f"unknown store read {method!r}; expected one of {READ_METHODS}")
    with ResultsStore(path, readonly=True) as store:
        return getattr(store, method)(**kwargs)


READ_METHODS = ("runs", "checkpoints", "scores_frame", "checkpoint_summary", "winrates",
                "pairwise_labels", "human_judgments", "generations", "samples",
                "directions",  # directions: a dict score -> higher is better (None: neither)
                "judgments_of_generations")


def submit_label(path: str | os.PathLike, *, run: str, sample_id: str, gen_a: str, gen_b: str,
                 winner: str, annotator: str, note: str | None = None,
                 shown_left: str | None = None) -> int:
    """Write one pairwise label at once (its own transaction); returns its row id."""
    if not annotator or not annotator.strip():
        raise ValueError("an annotator name is required to label")
    with ResultsStore(path) as store:
        return store.add_pairwise_label(run=run, sample_id=sample_id, gen_a=gen_a, gen_b=gen_b,
                                        winner=winner, annotator=annotator.strip(),
                                        note=(note or None), shown_left=shown_left)
