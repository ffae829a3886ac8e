"""The data sets bundled in ``data/`` (HH-RLHF test splits, SummEval), located and read
through their adapters (:mod:`rlhf_eval.adapters`) and :func:`rlhf_eval.io.read_records`."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from .adapters import SUMMEVAL_ASPECTS
from .errors import DataError
from .io import read_records
from .schema import Judgement, Sample

BUNDLED = {
    "summeval": "summeval/summeval.json",
    "hh-rlhf/helpful-base": "hh-rlhf/helpful-base/test.jsonl.gz",
    "hh-rlhf/harmless-base": "hh-rlhf/harmless-base/test.jsonl.gz",
}
_ALIASES = {"helpful-base": "hh-rlhf/helpful-base", "harmless-base": "hh-rlhf/harmless-base",
            "hh-rlhf": "hh-rlhf/helpful-base"}


def data_dir() -> Path:
    """The bundled ``data/`` folder (``RLHF_EVAL_DATA_DIR`` overrides it)."""
    env = os.environ.get("RLHF_EVAL_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def bundled_path(name: str) -> Path:
    """Path of a bundled data file: ``"summeval"``, ``"hh-rlhf/helpful-base"``,
    ``"hh-rlhf/harmless-base"`` (``"hh-rlhf"`` means helpful-base)."""
    key = _ALIASES.get(name, name)
    if key not in BUNDLED:
        close = difflib.get_close_matches(name, [*BUNDLED, *_ALIASES], n=3)
        raise DataError(f"no bundled data set {name!r}; expected one of {sorted(BUNDLED)}"
                        + (f" (did you mean {close}?)" if close else ""))
    path = data_dir() / BUNDLED[key]
    if not path.exists():
        raise DataError("bundled data file is missing (is this a full checkout?)", path=str(path))
    return path


def hh_rlhf_pairs(name: str = "hh-rlhf/helpful-base", *, on_error: str = "skip"):
    """The bundled HH-RLHF test split as pairs (a ``ReadResult``; see ``.skipped``)."""
    return read_records(bundled_path(name), "pair", adapter="hh-rlhf", on_error=on_error)


def summeval_records(path: str | os.PathLike | None = None) -> tuple[list[Sample], list[Judgement]]:
    """``(samples, judgements)`` of SummEval (default: the bundled copy)."""
    path = path or bundled_path("summeval")
    records = read_records(path, "sample", adapter="summeval").records
    judgements = read_records(path, "judgement", adapter="summeval").records
    return records, judgements


def summeval_frame(path: str | os.PathLike | None = None):
    """One row per system summary: ``doc_id, system, output, references, source`` and the four
    expert means ``coherence, consistency, fluency, relevance``, in file order."""
    import pandas as pd

    samples, judgements = summeval_records(path)
    scores: dict[str, dict[str, float]] = {}
    for j in judgements:
        scores.setdefault(j.sample_id, {})[j.aspect] = j.score
    rows = [{"doc_id": s.meta["doc_id"], "system": s.system, "output": s.completion,
             "references": s.references, "source": s.prompt, **scores[s.id]} for s in samples]
    return pd.DataFrame(rows, columns=["doc_id", "system", "output", "references", "source",
                                       *SUMMEVAL_ASPECTS])
