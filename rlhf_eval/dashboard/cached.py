"""Streamlit cache wrappers around the package's reads and computations.

Models (metric objects) use ``st.cache_resource``; tables use ``st.cache_data`` keyed by the store path *and* its version (mtime and size of the
database and its WAL), so a checkpoint the suite just evaluated, or a label just submitted,
shows on the next rerun while an unchanged store is read once. This module and
:mod:`.widgets` are the only ones in the package that import Streamlit.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from . import correlations, source
from .runs import read_ppo_metrics


@st.cache_data(show_spinner=False, max_entries=64)
def _read(path: str, version: tuple, method: str, kwargs: tuple) -> pd.DataFrame:
    return source.read(path, method, **dict(kwargs))


def table(path: str | Path, method: str, **kwargs) -> pd.DataFrame:
    """``ResultsStore.<method>(**kwargs)`` as a cached DataFrame (a copy: callers may mutate)."""
    return _read(str(path), source.version(path), method, tuple(sorted(kwargs.items()))).copy()


@st.cache_data(show_spinner=False, max_entries=16)
def _ppo_metrics(path: str, mtime: int) -> pd.DataFrame:
    return read_ppo_metrics(path)


def ppo_metrics(path: str | Path) -> pd.DataFrame:
    return _ppo_metrics(str(path), Path(path).stat().st_mtime_ns).copy()


@st.cache_data(show_spinner=False, max_entries=8)
def _correlation_file(path: str, mtime: int) -> pd.DataFrame:
    return correlations.read_correlation_table(path)


def correlation_file(path: str | Path) -> pd.DataFrame:
    return _correlation_file(str(path), Path(path).stat().st_mtime_ns).copy()


@st.cache_resource(show_spinner=False)
def metric(name: str):
    """One metric object per process (BERTScore holds an encoder model: load it once)."""
    from ..evaluation.metrics import get_metric

    return get_metric(name)


@st.cache_data(show_spinner=False, max_entries=8)
def summeval_scored(n_docs: int | None, metrics: tuple[str, ...],
                    cache_dir: str | None) -> tuple[pd.DataFrame, list[str]]:
    return correlations.score_summeval(n_docs, [metric(m) for m in metrics],
                                       cache_dir=cache_dir)


@st.cache_data(show_spinner=False, max_entries=64)
def _correlation_matrix(table: pd.DataFrame, metrics: tuple[str, ...], aspects: tuple[str, ...],
                        level: str, method: str, id_col: str, system_col: str,
                        n_resamples: int) -> pd.DataFrame:
    return correlations.correlation_matrix(table, metrics, aspects, level=level, method=method,
                                           id_col=id_col, system_col=system_col,
                                           n_resamples=n_resamples)


def correlation_matrix(table: pd.DataFrame, metrics: tuple[str, ...], aspects: tuple[str, ...],
                       level: str, method: str, id_col: str, system_col: str,
                       n_resamples: int) -> pd.DataFrame:
    """Cached on the score columns only (texts and reference lists would make hashing slow,
    and lists cannot be hashed)."""
    cols = list(dict.fromkeys([id_col, system_col, *metrics, *aspects]))
    return _correlation_matrix(table[cols], metrics, aspects, level, method, id_col,
                               system_col, n_resamples)


@st.cache_data(show_spinner=False, max_entries=8)
def summeval_pairwise(table: pd.DataFrame, metrics: tuple[str, ...],
                      aspects: tuple[str, ...]) -> pd.DataFrame:
    return correlations.summeval_pairwise(table, metrics, aspects)
