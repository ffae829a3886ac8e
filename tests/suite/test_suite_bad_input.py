"""Bad input: a clear error naming what/where (CLI exit 2) or a clearly marked NULL."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from suite_helpers import N_PROMPTS, eval_kwargs, fresh_run
from rlhf_eval.cli import main
from rlhf_eval.errors import ConfigError, DataError
from rlhf_eval.evaluation.metrics import Metric, register_metric
from rlhf_eval.store import ResultsStore


def _gen_flags(world):
    """The generation settings of the `evaluated` run (so re-runs find its generations)."""
    kw = eval_kwargs(world)
    return ["--max-new-tokens", str(kw["max_new_tokens"]), "--max-prompt-tokens",
            str(kw["max_prompt_tokens"]), "--no-progress"]


def _cli(world, run, *extra):
    return main(["eval", "--run", str(run), "--prompts", world["prompts"], "--metrics",
                 "length", *_gen_flags(world), *extra])


@pytest.fixture
def done_run(evaluated, tmp_path):
    """A copy of the evaluated run, store included (re-runs there cost no model work)."""
    return fresh_run({"run": evaluated["run"]}, tmp_path / "run")


def test_checkpoint_that_does_not_load(done_run, tiny_world, capsys):
    bad = done_run / "checkpoint-50"
    bad.mkdir()
    (bad / "config.json").write_text("{ this is not json")
    n_before = ResultsStore(done_run / "results.sqlite").count("generations")
    code = _cli(tiny_world, done_run)
    err = capsys.readouterr().err
    assert code == 2
    assert "checkpoint-50" in err and "cannot load" in err
    # the good checkpoints are still in the store, the bad one has nothing
    s = ResultsStore(done_run / "results.sqlite", readonly=True)
    gens = s.generations()
    assert "checkpoint-50" not in set(gens["checkpoint"])
    assert "checkpoint-50" not in set(s.checkpoints()["checkpoint"])  # no empty checkpoint
    assert {"checkpoint-10", "checkpoint-20", "checkpoint-30"} <= set(gens["checkpoint"])
    assert s.count("generations") == n_before  # the good ones were done already: no new work


def test_empty_prompt_file(done_run, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    code = main(["eval", "--run", str(done_run), "--prompts", str(empty), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "empty.jsonl" in err and "no prompts" in err


def test_bad_prompt_line_names_file_line_field(done_run, tmp_path, capsys):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"prompt": "ok", "references": ["r"]}) + "\n" +
                 json.dumps({"prompt": 3, "references": ["r"]}) + "\n")
    assert main(["eval", "--run", str(done_run), "--prompts", str(p), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "p.jsonl:2" in err and "'prompt'" in err
    p.write_text('{"prompt": "ok"}\n{not json\n')
    assert main(["eval", "--run", str(done_run), "--prompts", str(p), "--no-progress"]) == 2
    assert "p.jsonl:2" in capsys.readouterr().err


class FixedRefCount(Metric):
    """A metric that needs the same number of references for every sample."""

    name = "fixed_refs"
    score_names = ("fixed_refs",)
    higher_is_better = {"fixed_refs": True}
    supports_variable_references = False

    def signature(self):
        return "fixed_refs|test"

    def _score(self, batch):
        return {"fixed_refs": np.ones(len(batch.predictions))}


class SometimesNaN(Metric):
    """Returns NaN for every other sample: must be stored as NULL, never 0."""

    name = "sometimes_nan"
    score_names = ("sometimes_nan",)
    higher_is_better = {"sometimes_nan": True}
    needs_references = False

    def signature(self):
        return "sometimes_nan|test"

    def _score(self, batch):
        return {"sometimes_nan": np.array([np.nan if i % 2 else 1.0
                                           for i in range(len(batch.predictions))])}


register_metric("fixed_refs", FixedRefCount)
register_metric("sometimes_nan", SometimesNaN)


def test_reference_count_that_differs(done_run, tiny_world, tmp_path, capsys):
    p = tmp_path / "multi.jsonl"
    lines = [{"prompt": s.prompt, "references": list(s.references) * (1 + i % 2)}
             for i, s in enumerate(tiny_world["samples"])]
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    # metrics that accept any number of references (ROUGE max, BLEU/chrF multi-ref) run
    # ... but one that needs a fixed count fails before any model is loaded:
    code = main(["eval", "--run", str(done_run), "--prompts", str(p), "--metrics", "rouge",
                 "fixed_refs", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "multi.jsonl" in err and "references" in err and "fixed_refs" in err
    assert "sample 1 has 1, sample 2 has 2" in err


def test_metric_returning_nan_is_stored_as_null(done_run, tiny_world):
    import rlhf_eval

    df = rlhf_eval.evaluate(done_run, **{**eval_kwargs(tiny_world),
                                         "metrics": ["sometimes_nan"]})
    assert df.attrs["report"]["models_loaded"] == 0  # generations were already there
    s = ResultsStore(done_run / "results.sqlite", readonly=True)
    vals = s.conn.execute("SELECT value FROM scores WHERE metric='sometimes_nan'").fetchall()
    assert sorted({v for (v,) in vals}, key=str) == [1.0, None]
    row = df.query("metric == 'sometimes_nan' and checkpoint == 'checkpoint-10'").iloc[0]
    assert row["n"] + row["n_missing"] == N_PROMPTS and row["n_missing"] > 0
    assert row["mean"] == 1.0  # NULLs are left out of the mean, not averaged in as 0


def test_config_errors_exit_2(done_run, tiny_world, tmp_path, capsys):
    assert _cli(tiny_world, done_run, "--metrics", "length,roueg") == 2
    assert "did you mean 'rouge'" in capsys.readouterr().err
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("max_new_tokenz: 3\n")
    assert _cli(tiny_world, done_run, "--config", str(cfg)) == 2
    assert "max_new_tokens" in capsys.readouterr().err
    assert main(["eval", "--run", str(tmp_path / "nope"), "--prompts",
                 tiny_world["prompts"]]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        from rlhf_eval.evaluation.suite import EvalConfig

        EvalConfig()


def test_run_without_reward_model_says_how_to_fix(done_run, tiny_world, capsys):
    meta = json.loads((done_run / "run.json").read_text())
    meta["reward_model"] = "<in-memory>"
    (done_run / "run.json").write_text(json.dumps(meta))
    assert _cli(tiny_world, done_run, "--metrics", "reward") == 2
    assert "--reward-model" in capsys.readouterr().err


def test_load_samples_errors(tmp_path):
    from rlhf_eval.evaluation.suite import load_samples

    with pytest.raises(DataError, match="not found"):
        load_samples(tmp_path / "missing.jsonl")
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"prompt": "a", "references": ["x", ""]}) + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:1: field 'references'"):
        load_samples(p)
