"""`correlate --choices` without `--human-cols`: the pairwise choices carry the human signal."""
import json

import pandas as pd


def test_correlate_with_choices_and_no_human_columns(tmp_path, capsys):
    from rlhf_eval.cli import main

    rows = []
    for d in range(4):
        for s in range(3):
            rows.append({"doc": f"d{d}", "sys": f"s{s}", "out": f"summary {d} {s}",
                         "sample_id": f"d{d}/s{s}", "m": float(s + 0.1 * d)})
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    choices = [{"sample_a": f"d{d}/s2", "sample_b": f"d{d}/s0", "winner": w, "annotator": "u1"}
               for d, w in zip(range(4), "aaba")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(c) + "\n" for c in choices))
    code = main(["correlate", "--table", str(tmp_path / "t.csv"), "--id-col", "doc",
                 "--system-col", "sys", "--output-col", "out", "--refs-col", "none",
                 "--metric-cols", "m", "--choices", str(tmp_path / "c.jsonl"),
                 "--n-resamples", "20", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "correlations.json").read_text())
    (row,) = [r for r in data["pairwise_agreement"] if r["metric"] == "m"]
    assert row["agree"] == 3 and row["disagree"] == 1      # m always prefers s2
    code = main(["correlate", "--table", str(tmp_path / "t.csv"), "--id-col", "doc",
                 "--system-col", "sys", "--output-col", "out", "--refs-col", "none",
                 "--metric-cols", "m", "--out", str(tmp_path / "o2")])
    assert code == 2 and "--human-cols" in capsys.readouterr().err
