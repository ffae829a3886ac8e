"""Shared, session-scoped inputs for the metric tests: a SummEval slice and BERTScore runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUMMEVAL = [ROOT / "data" / "summeval" / "summeval.json",
            ROOT.parent / "shared" / "data" / "summeval" / "summeval.json"]


def load_summeval(n_docs: int, n_systems: int = 16, n_refs: int = 11):
    """(predictions, references): each system summary of the first docs with its references."""
    path = next((p for p in SUMMEVAL if p.is_file()), None)
    if path is None:
        pytest.skip("SummEval data not found (data/summeval/summeval.json)")
    data = json.loads(path.read_text())
    preds, refs = [], []
    for doc_id in sorted(data)[:n_docs]:
        doc = data[doc_id]
        for sys_id in sorted(doc["sys_summs"])[:n_systems]:
            preds.append(doc["sys_summs"][sys_id]["sys_summ"])
            refs.append(list(doc["ref_summs"][:n_refs]))
    return preds, refs


@pytest.fixture(scope="session")
def summeval_small():
    """3 docs x 16 systems = 48 summaries with 11 references each (ROUGE, BLEU, chrF)."""
    return load_summeval(3)


@pytest.fixture(scope="session")
def summeval_tiny():
    """2 docs x 5 systems = 10 summaries with 2 references each (BERTScore: kept small because
    every bert_score.score call reloads the model and re-embeds everything)."""
    return load_summeval(2, n_systems=5, n_refs=2)


@pytest.fixture(scope="session")
def minilm():
    from rlhf_eval.models import minilm_path

    return minilm_path()


@pytest.fixture(scope="session")
def bert_score_reference(summeval_tiny, minilm):
    """bert_score.score itself on the tiny slice: {idf: (P, R, F) numpy arrays}."""
    import bert_score

    preds, refs = summeval_tiny
    out = {}
    for idf in (False, True):
        P, R, F = bert_score.score(preds, refs, model_type=minilm, num_layers=6, idf=idf,
                                   nthreads=0, device="cpu")
        out[idf] = tuple(t.numpy() for t in (P, R, F))
    return out
