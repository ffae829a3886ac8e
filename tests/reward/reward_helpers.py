"""Helpers shared by the reward tests (a module with a unique name: `from conftest import`
would pick whichever area's conftest was imported first in a whole-suite run)."""
from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_dict() if hasattr(r, "to_dict") else r) + "\n")
    return path
