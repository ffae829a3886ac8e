"""Per-step metrics of a run: ``metrics.jsonl`` and ``metrics.csv`` in the run folder, and
TensorBoard when it is installed. Names follow TRL's PPO trainer (objective/kl, loss/policy...).

On resume the files are rewritten from the checkpoint's history, so rows logged after the
checkpoint by the killed process disappear and the files equal an uninterrupted run's.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# Leading CSV columns; any other metric follows in sorted order.
FIRST_COLUMNS = ["step", "episode", "lr", "objective/kl", "objective/entropy", "objective/scores",
                 "objective/non_score_reward", "objective/rlhf_reward", "policy/approxkl",
                 "policy/clipfrac", "loss/policy", "loss/value", "val/clipfrac", "val/ratio",
                 "val/num_eos_tokens"]


def _columns(rows: list[dict]) -> list[str]:
    keys = {k for row in rows for k in row}
    return [c for c in FIRST_COLUMNS if c in keys] + sorted(keys - set(FIRST_COLUMNS))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class MetricsLogger:
    def __init__(self, run_dir: str | Path, history: list[dict] | None = None,
                 tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.rows: list[dict] = list(history or [])
        self._rewrite()
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:  # tensorboard is optional
                log.debug("tensorboard not installed; logging to JSONL/CSV only")

    def _rewrite(self) -> None:
        _atomic_text(self.run_dir / "metrics.jsonl",
                     "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.rows))
        self._write_csv()

    def _write_csv(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_columns(self.rows) or ["step"])
        writer.writeheader()
        writer.writerows(self.rows)
        _atomic_text(self.run_dir / "metrics.csv", buf.getvalue())

    def log(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
        # CSV columns may grow (e.g. gold metrics appear): rewrite it; it is small
        self._write_csv()
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
