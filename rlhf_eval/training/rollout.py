"""PPO's training prompts. Encoding and sampling live in :mod:`rlhf_eval.lm` (the one sampler
that evaluation uses too)."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError


def read_prompts(path: str | Path) -> list[str]:
    """The ``prompt`` field of every JSONL record (Sample records, or any object with one)."""
    from ..io import iter_jsonl

    prompts = []
    for line_no, record in iter_jsonl(path):
        if "prompt" not in record:
            raise DataError("expected an object with a 'prompt'", path=str(path),
                            line=line_no, field="prompt")
        if not isinstance(record["prompt"], str) or not record["prompt"].strip():
            raise DataError(f"expected a non-empty string, found {record['prompt']!r:.60}",
                            path=str(path), line=line_no, field="prompt")
        prompts.append(record["prompt"])
    if not prompts:
        raise DataError("no prompts found", path=str(path))
    return prompts
