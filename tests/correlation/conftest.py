"""Shared fixtures for the correlation tests: hand-made grids and one small lab."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def grids():
    """A 12-input x 7-system metric grid correlated with a rounded (tie-heavy) human grid,
    with one input where the human scores are constant and one missing cell."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 7))
    y = np.round(x + rng.normal(size=(12, 7)), 0)
    y[3] = 2.0             # constant human scores on input 3: skipped at the summary level
    x[5, 2] = np.nan       # one missing metric score
    return x, y


def tidy(x: np.ndarray, y: np.ndarray, *, metric="m", human="h") -> pd.DataFrame:
    rows = []
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            rows.append({"doc": f"d{i}", "sys": f"s{j}", metric: x[i, j], human: y[i, j],
                         "out": f"output {i} {j}", "refs": [f"reference {i}"]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory):
    lab = pytest.importorskip("rlhf_eval.lab")
    folder = tmp_path_factory.mktemp("lab")
    ds = lab.generate_lab(lab.lab_config("test", seed=0, n_rated_prompts=40, rated_per_prompt=4))
    lab.write_lab(ds, folder)
    return folder


@pytest.fixture(name="tidy")
def tidy_fixture():
    """``tidy(x, y)``: a long table (doc, sys, m, h, out, refs) of two grids."""
    return tidy
