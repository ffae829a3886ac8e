"""The lab PPO example's analysis helpers: the Gao et al. fit and the pooled KL table."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gao_fit_recovers_a_known_peak_and_flags_extrapolation():
    fit_gao = _load("ppo_lab").fit_gao
    a, b, c = 0.3, 0.2, 0.1  # peak at d* = exp(a/b - 1) = e^0.5, KL* = e = 2.718
    kl = np.linspace(0.2, 8.0, 20)
    d = np.sqrt(kl)
    out = fit_gao(kl, d * (a - b * np.log(d)) + c)
    assert out["kl_at_peak"] == pytest.approx(math.e, rel=1e-3)
    assert out["peak_in_observed_range"]
    # KL 0.2..1.8 only: noise-free, the fit still finds KL* = e, but the run never got there
    rising = fit_gao(kl[:5], (d * (a - b * np.log(d)) + c)[:5])
    assert rising["kl_at_peak"] == pytest.approx(math.e, rel=1e-3)
    assert rising["peak_in_observed_range"] is False


def test_pooled_kl_table_bins_checkpoints_of_several_runs(tmp_path):
    mod = _load("ppo_lab_kl")
    rows = {"a": [(0, 0.0, 0.1, 0.0), (100, 3.5, 0.4, 1.0)],
            "b": [(0, 0.0, 0.1, 0.0), (100, 9.0, 0.2, 1.5), (200, 12.0, 0.0, 1.6)]}
    for run, pts in rows.items():
        (tmp_path / run).mkdir()
        lines = ["step,gold,proxy,kl"] + [f"{s},{g},{p},{k}" for s, k, g, p in pts]
        (tmp_path / run / "eval_curve.csv").write_text("\n".join(lines) + "\n")
    points = mod.read_points([tmp_path / "a", tmp_path / "b"])
    table = {(r["kl_low"], r["kl_high"]): r for r in mod.by_kl(points)}
    assert table[(0.0, 0.5)]["checkpoints"] == 2
    assert table[(3.0, 4.5)]["gold"] == pytest.approx(0.4)
    assert table[(8.0, 10.0)]["proxy"] == pytest.approx(1.5)
    assert table[(10.0, math.inf)]["gold"] == pytest.approx(0.0)
    assert sum(r["checkpoints"] for r in table.values()) == 5
