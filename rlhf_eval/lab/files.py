"""Write a :class:`~rlhf_eval.lab.dataset.LabDataset` as JSONL files in the shared schema.

The layout is documented in ``data/lab/README.md``. ``lab.json`` records the config, the seed,
the record counts and the sha256 of every file, so two runs can be compared byte for byte.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from ..io import atomic_write_json, write_records
from .dataset import LabDataset

FILES = ("sft.jsonl", "prompts_train.jsonl", "prompts_eval.jsonl", "pairs.jsonl",
         "pairs_eval.jsonl", "rankings.jsonl", "rating_samples.jsonl", "ratings.jsonl")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_lab(dataset: LabDataset, out_dir) -> dict:
    """Write every file of the lab into ``out_dir`` (created); returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = {
        "sft.jsonl": dataset.sft_samples(),
        "prompts_train.jsonl": dataset.prompts("train"),
        "prompts_eval.jsonl": dataset.prompts("eval"),
        "pairs.jsonl": dataset.pairs,
        "pairs_eval.jsonl": dataset.pairs_eval,
        "rankings.jsonl": dataset.rankings,
        "rating_samples.jsonl": dataset.rating_samples,
        "ratings.jsonl": dataset.ratings,
    }
    counts = {name: write_records(out / name, recs) for name, recs in records.items()}
    manifest = {
        "format": "rlhf-eval-lab/1",
        "seed": dataset.config.seed,
        "size": dataset.config.size,
        "config": dataclasses.asdict(dataset.config),
        "counts": counts,
        "sha256": {name: _sha256(out / name) for name in FILES},
    }
    manifest = json.loads(json.dumps(manifest))  # tuples -> lists: the same as the file says
    atomic_write_json(out / "lab.json", manifest)
    return manifest
