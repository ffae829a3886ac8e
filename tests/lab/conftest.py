"""Shared, session-scoped lab artefacts: generated once per test session in pytest's tmp dir."""
from __future__ import annotations

import pytest

from rlhf_eval.lab import generate_lab, lab_config


@pytest.fixture(scope="session")
def test_lab():
    """The `test`-size lab, in memory (about a second to build)."""
    return generate_lab(lab_config("test", seed=0))


@pytest.fixture(scope="session")
def demo_lab():
    """The `demo`-size lab (4000 pairs): enough pairs for tight binomial checks."""
    return generate_lab(lab_config("demo", seed=0))


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory):
    """A tiny SFT policy trained on the test lab: one shared SFT run of 300 steps (26 s at load
    ~5 on the shared 2 cores; the slowest fixture of this folder)."""
    from rlhf_eval.lab.testing import tiny_sft_policy

    return tiny_sft_policy(tmp_path_factory.mktemp("lab-policy"))
