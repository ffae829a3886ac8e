"""`rlhf-eval correlate` end to end, as a user runs it (real subprocesses)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def _run(*args):
    """A real subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "correlate", *args],
                          capture_output=True, text=True, timeout=240)


def _main(capsys, *args):
    """The same entry point in-process (cheaper): (exit code, stdout, stderr)."""
    from rlhf_eval.cli import main

    code = main(["correlate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _write_table(path, tidy, x, y):
    table = tidy(x, y)
    table["refs"] = table["refs"].map(json.dumps)
    table.to_csv(path, index=False)


def test_table_with_metric_columns(tmp_path, tidy, grids):
    x, y = grids
    _write_table(tmp_path / "t.csv", tidy, x, y)
    proc = _run("--table", str(tmp_path / "t.csv"), "--id-col", "doc", "--system-col", "sys",
                "--output-col", "out", "--refs-col", "refs", "--human-cols", "h",
                "--metric-cols", "m", "--n-resamples", "100", "--out", str(tmp_path / "o"),
                "--pairwise")
    assert proc.returncode == 0, proc.stderr
    assert "### summary level, kendall" in proc.stdout and "nan" not in proc.stdout.lower()
    assert "11 inputs used, 1 skipped" in proc.stdout
    data = json.loads((tmp_path / "o" / "correlations.json").read_text())
    assert len(data["correlations"]) == 9
    sample = [r for r in data["correlations"] if r["level"] == "sample"][0]
    assert (sample["n"], sample["n_skipped"]) == (83, 1)
    assert any("no 'm' score" in note for note in data["meta"]["notes"])
    assert data["pairwise_agreement"][0]["metric"] == "m"


def test_two_systems_is_a_data_error(tmp_path, tidy):
    x = np.arange(8.0).reshape(4, 2)
    _write_table(tmp_path / "t.csv", tidy, x, x ** 2)
    proc = _run("--table", str(tmp_path / "t.csv"), "--id-col", "doc", "--system-col", "sys",
                "--output-col", "out", "--refs-col", "refs", "--human-cols", "h",
                "--metric-cols", "m", "--levels", "system", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "at least 3 systems" in proc.stderr and "found 2" in proc.stderr
    assert not (tmp_path / "o" / "correlations.json").exists()


def test_constant_human_scores_is_a_data_error(tmp_path, tidy, capsys):
    x = np.arange(12.0).reshape(4, 3)
    _write_table(tmp_path / "t.csv", tidy, x, np.full((4, 3), 3.0))
    code, _, err = _main(capsys, "--table", str(tmp_path / "t.csv"), "--id-col", "doc",
                         "--system-col", "sys", "--output-col", "out", "--refs-col", "refs",
                         "--human-cols", "h", "--metric-cols", "m", "--levels", "sample",
                         "--out", str(tmp_path / "o"))
    assert code == 2 and "'h' is constant" in err


def test_unknown_column_and_bad_compare(tmp_path, tidy, grids, capsys):
    x, y = grids
    _write_table(tmp_path / "t.csv", tidy, x, y)
    base = ["--table", str(tmp_path / "t.csv"), "--id-col", "doc", "--system-col", "sys",
            "--output-col", "out", "--refs-col", "refs", "--out", str(tmp_path / "o"),
            "--n-resamples", "20"]
    code, _, err = _main(capsys, *base, "--human-cols", "hh", "--metric-cols", "m")
    assert code == 2 and "t.csv: field 'hh': column not found" in err
    code, _, err = _main(capsys, *base, "--human-cols", "h", "--metric-cols", "m",
                         "--compare", "m")
    assert code == 2 and "expected A:B" in err


def test_summeval_subset_with_computed_metrics(tmp_path, capsys):
    pytest.importorskip("rlhf_eval.adapters")
    out = tmp_path / "o"
    args = ["--summeval", "--metrics", "rouge,chrf", "--max-inputs", "6", "--n-resamples", "50",
            "--methods", "kendall,pearson", "--compare", "rouge2:chrf", "--out", str(out)]
    code, _, err = _main(capsys, *args)
    assert code == 0, err
    data = json.loads((out / "correlations.json").read_text())
    assert data["meta"]["n_systems"] == 16 and data["meta"]["n_inputs"] == 6
    assert {r["metric"] for r in data["correlations"]} == {
        "rouge1", "rouge2", "rougeL", "rougeLsum", "chrf"}
    assert "multi_ref=mean" in data["meta"]["signatures"]["rouge1"]
    assert len(data["comparisons"]) == 4 * 3 * 2
    caches = sorted(out.joinpath("cache").glob("*.parquet"))
    assert [p.name.split("-")[0] for p in caches] == ["chrf", "rouge"]
    stamps = [p.stat().st_mtime_ns for p in caches]
    code, _, err = _main(capsys, *args)  # the second run only reads the cache: same table
    assert code == 0, err
    assert [p.stat().st_mtime_ns for p in caches] == stamps
    assert json.loads((out / "correlations.json").read_text())["correlations"] == \
        data["correlations"]


def test_explicit_choices_file(tmp_path, tidy, grids, capsys):
    x, y = grids
    table = tidy(x, y)
    table["sample_id"] = [f"{d}/{s}" for d, s in zip(table["doc"], table["sys"])]
    table["refs"] = table["refs"].map(json.dumps)
    table.to_csv(tmp_path / "t.csv", index=False)
    lines = [{"sample_a": "d0/s0", "sample_b": "d0/s1", "winner": "a", "annotator": "u1"},
             {"sample_a": "d0/s0", "sample_b": "d0/s1", "winner": "b", "annotator": "u2"},
             {"sample_a": "d1/s2", "sample_b": "d1/s3", "winner": "tie", "annotator": "u1"},
             {"sample_a": "d2/s0", "sample_b": "d2/s4", "winner": "b", "annotator": "u1"}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    args = ["--table", str(tmp_path / "t.csv"), "--id-col", "doc", "--system-col", "sys",
            "--output-col", "out", "--refs-col", "refs", "--human-cols", "h",
            "--metric-cols", "m", "--levels", "sample", "--methods", "kendall",
            "--n-resamples", "20", "--out", str(tmp_path / "o")]
    code, out, err = _main(capsys, *args, "--choices", str(tmp_path / "c.jsonl"))
    assert code == 0, err
    rows = json.loads((tmp_path / "o" / "correlations.json").read_text())["pairwise_agreement"]
    metric_row = [r for r in rows if r["metric"] == "m"][0]
    assert (metric_row["n_pairs"], metric_row["human_ties"]) == (4, 1)
    assert [r["agreement"] for r in rows if r["metric"] == "(inter-annotator)"] == [0.0]
    lines[3]["sample_b"] = "d9/s9"
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    code, _, err = _main(capsys, *args, "--choices", str(tmp_path / "c.jsonl"))
    assert code == 2 and "c.jsonl:4: field 'sample_b': no sample 'd9/s9'" in err


def test_bad_score_in_csv_names_the_file_line(tmp_path, tidy, grids, capsys):
    x, y = grids
    table = tidy(x, y)
    table["refs"] = table["refs"].map(json.dumps)
    table["h"] = table["h"].astype(object)
    table.loc[4, "h"] = "n/a?"           # data row 5 = line 6 of the file (after the header)
    table.to_csv(tmp_path / "t.csv", index=False)
    code, _, err = _main(capsys, "--table", str(tmp_path / "t.csv"), "--id-col", "doc",
                         "--system-col", "sys", "--output-col", "out", "--refs-col", "refs",
                         "--human-cols", "h", "--metric-cols", "m", "--out", str(tmp_path / "o"))
    assert code == 2
    assert "t.csv:6: field 'h': expected a number, found 'n/a?'" in err
