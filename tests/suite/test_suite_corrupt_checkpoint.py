"""Issue 19, finding 5: a checkpoint whose folder is corrupted after it was evaluated keeps its
earlier results, is recorded and reported as failed, and `report` fails its gates instead of
quietly judging the previous checkpoint; once the folder is good again it evaluates normally."""
from __future__ import annotations

import json
import shutil

from suite_helpers import eval_kwargs, fresh_run
from rlhf_eval.cli import main
from rlhf_eval.store import ResultsStore


def _eval(world, run):
    kw = eval_kwargs(world)
    return main(["eval", "--run", str(run), "--prompts", world["prompts"], "--metrics",
                 "length", "--max-new-tokens", str(kw["max_new_tokens"]),
                 "--max-prompt-tokens", str(kw["max_prompt_tokens"]), "--no-progress"])


def test_corrupted_checkpoint_keeps_results_and_fails_the_report(evaluated, tiny_world,
                                                                 tmp_path, capsys):
    run = fresh_run({"run": evaluated["run"]}, tmp_path / "run")
    store_path = run / "results.sqlite"
    with ResultsStore(store_path, readonly=True) as s:
        before = s.generations("run")
        kept = before[before["checkpoint"] == "checkpoint-30"]
    assert len(kept)
    weights = run / "checkpoint-30" / "adapter_model.safetensors"  # LoRA adapters
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 3])  # truncated on disk

    assert _eval(tiny_world, run) == 2
    assert "checkpoint-30" in capsys.readouterr().err
    with ResultsStore(store_path, readonly=True) as s:
        after = s.generations("run")
        failures = s.eval_failures("run")
    # the earlier, valid results are still there, float for float
    assert after[after["checkpoint"] == "checkpoint-30"]["completion"].tolist() == \
        kept["completion"].tolist()
    assert [f["checkpoint"] for f in failures] == ["checkpoint-30"]

    assert main(["report", "--run", str(run), "--fail-on", "length:drop>1000",
                 "--format", "json,md"]) == 1
    doc = json.loads((run / "report" / "report.json").read_text())
    assert doc["checkpoint"] == "checkpoint-30"  # not checkpoint-20
    assert "failed to evaluate" in doc["gates"][0]["message"]
    assert "failed to evaluate" in (run / "report" / "report.md").read_text()

    weights.write_bytes(good)  # repaired: evaluates again, the failure record goes away
    assert _eval(tiny_world, run) == 0
    with ResultsStore(store_path, readonly=True) as s:
        assert s.eval_failures("run") == []
    # a real store, completely evaluated: no metric is mistaken for partial
    gates = [a for m in ("length", "gold", "reward", "rougeL", "bleu") for a in
             ("--fail-on", f"{m}:drop>1000")] + ["--fail-on", "kl:>1000"]
    assert main(["report", "--run", str(run), *gates, "--format", "json"]) == 0
    doc = json.loads((run / "report" / "report.json").read_text())
    assert doc["failed_checkpoints"] == [] and not any(r["partial"] for r in doc["comparison"])
    shutil.rmtree(run / "report")
