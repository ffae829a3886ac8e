"""Issue 19, finding 4: `train-rm` on a full disk exits 2 with a clear message and leaves no
model folder that looks loadable (a config without weights): its files appear together or
not at all."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reward_helpers import write_jsonl
from rlhf_eval.testing import small_disk


def test_train_rm_on_a_full_disk_leaves_no_half_model(gpt2_dir, task, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", task["train"][:8])
    weights = sum(p.stat().st_size for p in Path(gpt2_dir).glob("*.safetensors"))
    # room for the training log and the small files, not for the weights
    size = f"{max(64, weights // 2 // 1024)}k"
    with small_disk(tmp_path / "disk", size) as disk:
        out = disk / "rm"
        res = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "train-rm", "--data",
                              str(data), "--model", str(gpt2_dir), "--out", str(out),
                              "--max-steps", "1", "--batch-size", "4", "--no-progress"],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
        assert "No space left on device" in res.stderr and "Traceback" not in res.stderr
        left = {p.name for p in out.iterdir()} if out.exists() else set()
        assert "config.json" not in left and "model.safetensors" not in left, left
        assert not [p for p in left if p.startswith(".publish")], left
