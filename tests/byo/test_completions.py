"""Friction 1: completions generated elsewhere are evaluated without code
(`eval --completions FILE`, `evaluate(completions=...)`), into the same store, metrics,
win-rates and report as a generated run; no policy is loaded."""
from __future__ import annotations

import json

import numpy as np
import pytest

import rlhf_eval
from rlhf_eval.cli import main
from rlhf_eval.store import ResultsStore

CHECKPOINTS = (("sft", 0), ("checkpoint-100", 100), ("checkpoint-200", 200))


def _completion(sample, ck: str) -> str:
    words = sample.references[0].split()
    keep = {"sft": 3, "checkpoint-100": len(words) // 2, "checkpoint-200": len(words)}[ck]
    return " ".join(words[:keep])


def _rows(samples, with_step=True):
    rows = []
    for ck, step in CHECKPOINTS:
        for k, s in enumerate(samples):
            row = {"prompt": s.prompt, "completion": _completion(s, ck), "checkpoint": ck,
                   "references": list(s.references), "id": f"p{k}", "meta": {"src": "vllm"}}
            if with_step:
                row["step"] = step
            rows.append(row)
    return rows


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_completions_cli_store_metrics_winrates_report(world, tmp_path, capsys):
    from rouge_score import rouge_scorer

    samples = world["samples"]
    comp = _write_jsonl(tmp_path / "outputs.jsonl", _rows(samples))
    store = tmp_path / "results.sqlite"
    args = ["eval", "--completions", str(comp), "--store", str(store), "--metrics",
            "rouge,length,reward", "--reward-model", world["rm"], "--judges", "rougeL",
            "reward", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "run outputs: 3 checkpoint(s)" in out and "win-rates" in out

    with ResultsStore(store, readonly=True) as s:
        cks = s.checkpoints(run="outputs").set_index("checkpoint")
        assert cks.loc["sft", "is_baseline"] == 1 and cks.loc["checkpoint-200", "step"] == 200
        gens = s.generations(run="outputs")
        for ck, _ in CHECKPOINTS:
            got = dict(zip(gens[gens["checkpoint"] == ck]["prompt"],
                           gens[gens["checkpoint"] == ck]["completion"]))
            assert got == {x.prompt: _completion(x, ck) for x in samples}
        summary = s.checkpoint_summary(run="outputs").set_index(["checkpoint", "metric"])
        wr = s.winrates(run="outputs")
        samples_table = s.samples()
    # ROUGE-L against rouge-score called directly (rlhf-eval's default: stemmer on)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for ck, _ in CHECKPOINTS:
        want = np.mean([scorer.score(x.references[0], _completion(x, ck))["rougeL"].fmeasure
                        for x in samples])
        assert summary.loc[(ck, "rougeL"), "mean"] == pytest.approx(want, abs=1e-12)
        length = np.mean([len(_completion(x, ck).split()) for x in samples])
        assert summary.loc[(ck, "length"), "mean"] == pytest.approx(length)
    # the reward metric scored the imported text with the RM, as `score` does
    from rlhf_eval.rm.scorer import RewardScorer

    rs = RewardScorer(world["rm"], device="cpu")
    want = np.mean(rs.score([x.prompt for x in samples],
                            [_completion(x, "checkpoint-200") for x in samples]))
    assert summary.loc[("checkpoint-200", "reward"), "mean"] == pytest.approx(want, abs=1e-5)
    # win-rates against the baseline: the full reference beats 3 words under ROUGE-L
    row = wr[(wr.checkpoint == "checkpoint-200") & (wr.baseline == "sft")
             & (wr.judge == "rougeL") & (wr.tie_policy == "half")].iloc[0]
    assert row.winrate == 1.0 and row.n == len(samples)
    assert samples_table["meta"].iloc[0]["src"] == "vllm"

    # re-run: nothing new; the report works on the store as for a generated run
    assert main(args) == 0
    assert "0 new generation(s), 0 new score(s)" in capsys.readouterr().out
    rc = main(["report", "--store", str(store), "--fail-on", "rougeL:drop>0.5",
               "--format", "md,json", "--out", str(tmp_path / "report")])
    assert rc == 0
    assert "checkpoint-200" in (tmp_path / "report" / "report.md").read_text()


def test_evaluate_completions_python_and_edited_file(world, tmp_path):
    samples = world["samples"]
    rows = _rows(samples, with_step=False)  # steps from the names' trailing digits
    comp = _write_jsonl(tmp_path / "gen.jsonl", rows)
    store = tmp_path / "r.sqlite"
    df = rlhf_eval.evaluate(completions=str(comp), store=str(store), metrics=["length"],
                            judges=["length"], progress=False)
    means = df.set_index(["checkpoint", "metric"])["mean"]
    assert set(df["step"]) == {-1, 0, 100, 200}  # -1: the references pseudo-checkpoint
    assert means[("checkpoint-100", "length")] == pytest.approx(
        np.mean([len(_completion(x, "checkpoint-100").split()) for x in samples]))
    # an edited completion replaces that checkpoint's rows (content-keyed), nothing else
    rows[len(samples)]["completion"] = "one two three four five six seven eight nine ten"
    _write_jsonl(comp, rows)
    df2 = rlhf_eval.evaluate(completions=str(comp), store=str(store), metrics=["length"],
                             judges=["length"], progress=False)
    assert df2.attrs["report"]["generated"] == len(samples)  # checkpoint-100 only
    with ResultsStore(store, readonly=True) as s:
        assert len(s.generations(run="gen")) == len(samples) * 4  # 3 checkpoints + references


def test_completions_from_csv_and_a_dataset_dict(world, tmp_path, capsys):
    import datasets
    import pandas as pd

    rows = _rows(world["samples"])
    flat = [dict(r, references=json.dumps(r["references"]), meta=json.dumps(r["meta"]))
            for r in rows]
    pd.DataFrame(flat).to_csv(tmp_path / "c.csv", index=False)
    df = rlhf_eval.evaluate(completions=str(tmp_path / "c.csv"), metrics=["rouge"],
                            judges=["rougeL"], progress=False)
    ds = datasets.Dataset.from_list(flat)
    datasets.DatasetDict({"test": ds, "train": ds}).save_to_disk(str(tmp_path / "dd"))
    assert main(["eval", "--completions", str(tmp_path / "dd"), "--metrics", "rouge",
                 "--store", str(tmp_path / "x.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "--split" in err and "['test', 'train']" in err
    df2 = rlhf_eval.evaluate(completions=str(tmp_path / "dd"), split="test",
                             store=str(tmp_path / "x.sqlite"), metrics=["rouge"],
                             judges=["rougeL"], progress=False)
    a = df.set_index(["checkpoint", "metric"])["mean"]
    b = df2.set_index(["checkpoint", "metric"])["mean"]
    assert a.to_dict() == pytest.approx(b.to_dict())


def test_bad_completions_files_name_file_line_field(world, tmp_path, capsys):
    base = {"prompt": "p", "completion": "c", "checkpoint": "a"}
    cases = [
        ({**base, "chekpoint": "x"}, "unknown field(s) ['chekpoint']"),
        ({"prompt": "p", "completion": "c"}, "field 'checkpoint': missing required field"),
        ({**base, "step": "ten"}, "field 'step': expected an integer training step"),
        ({**base, "references": [1]}, "field 'references'"),
    ]
    for record, message in cases:
        path = _write_jsonl(tmp_path / "bad.jsonl", [base | {"prompt": "q"}, record])
        assert main(["eval", "--completions", str(path), "--metrics", "length"]) == 2
        err = capsys.readouterr().err
        assert f"{path}:2" in err and message in err, err
    # kl needs the policy: asking for it on imported text is a config error, not a crash
    good = _write_jsonl(tmp_path / "good.jsonl", [base])
    assert main(["eval", "--completions", str(good), "--metrics", "length,kl"]) == 2
    assert "--metrics [metrics]: 'kl' needs the policy" in capsys.readouterr().err


def test_score_and_data_validate_accept_a_completions_file(world, tmp_path):
    """Friction 10 (part): `score` keeps id and meta; checkpoint/step columns are accepted."""
    comp = _write_jsonl(tmp_path / "outputs.jsonl", _rows(world["samples"]))
    assert main(["data", "validate", str(comp)]) == 0
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--model", world["rm"], "--data", str(comp), "--out", str(out),
                 "--no-progress"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0]["id"] == "p0"
    assert rows[0]["meta"] == {"src": "vllm", "checkpoint": "sft", "step": 0}
    assert rows[-1]["meta"]["checkpoint"] == "checkpoint-200"
