"""Fixtures for the data layer: a few valid records of every kind, and a CLI runner."""
from __future__ import annotations

import pytest

from rlhf_eval.cli import main
from rlhf_eval.schema import Judgement, PairwiseChoice, PreferencePair, Ranking, Sample


@pytest.fixture(scope="session")
def records_by_kind():
    """Records that exercise every field: unicode, newlines, commas and quotes (CSV), empty
    prompt, nested meta, ints vs floats, lists."""
    return {
        "pair": [
            PreferencePair("Q: 2+2?", " 4", " five", margin=1.5, annotator="ann1",
                           meta={"src": "x", "tags": ["a", "b"], "n": 3}),
            PreferencePair("", 'He said "hi",\nthen left', "Ünïcødé ✓, ok", meta={}),
            PreferencePair("multi\n\nline, prompt", "a", "b", margin=-0.25),
        ],
        "ranking": [
            Ranking("p", ["best", "mid", "worst"], annotator="r1", meta={"k": 1}),
            Ranking("", ["x, y", "z"]),
        ],
        "sample": [
            Sample("article one", "summary, one", ["ref 1", 'ref "2"'], "M0", "d1/M0",
                   {"doc_id": "d1"}),
            Sample("article two", "", [], None, "d2/M1"),
        ],
        "judgement": [
            Judgement("d1/M0", "coherence", 4.0, "expert_mean"),
            Judgement("d1/M0", "fluency", 1.3333333333333333, "a2", {"note": "ok"}),
        ],
        "choice": [
            PairwiseChoice("s1", "s2", "a", "ann1", "clear, better"),
            PairwiseChoice("s3", "s4", "tie", None),
        ],
    }


@pytest.fixture
def cli(capsys):
    """Run ``rlhf-eval`` in-process: (exit code, stdout, stderr)."""

    def run(*argv: str):
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
