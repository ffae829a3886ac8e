"""Issue 19: gate specs with loose types and data with values JSON can spell but no record
means (deep nesting, huge integers, lone surrogates) are refused at validation, exit 2,
naming file, line and field; nothing crashes later in convert/score/eval."""
from __future__ import annotations

import json

import pytest

from rlhf_eval.cli import main
from rlhf_eval.errors import ConfigError
from rlhf_eval.gates import Gate, load_gates, parse_gate


@pytest.mark.parametrize("entry, message", [
    ("{metric: gold, max_drop: 0.1, significance: 'false'}", "significance must be true or false"),
    ("{metric: gold, max_drop: 5, relative: 'no'}", "relative must be true or false"),
    ("{metric: gold, max_drop: .nan}", "finite"),
    ("{metric: gold, max: .inf}", "finite"),
    ("{metric: gold, min: -.inf}", "finite"),
    ("{metric: gold, max_drop: true}", "must be a number"),
    ("{metric: gold, max_drop: '0.1'}", "must be a number"),
    ("{metric: gold, max: " + "9" * 400 + "}", "finite"),
    ("{metric: 7, max: 1}", "gate metric"),
    ("{metric: 'gold\\u0000', max: 1}", "gate metric"),
    ("'gold:drop>1e999'", "finite"),
])
def test_loose_gate_types_are_refused(tmp_path, entry, message):
    path = tmp_path / "gates.yaml"
    path.write_text(f"gates:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=message):
        load_gates(path)


@pytest.mark.parametrize("doc, message", [
    ("gates: [{metric: gold, max: 1}]\nconfidence: 'high'\n", "confidence"),
    ("gates: [{metric: gold, max: 1}]\nconfidence: .nan\n", "confidence"),
    ("gates: [{metric: gold, max: 1}]\ncheckpoint: 300\n", "checkpoint"),
    ("gates: " + "[" * 5000 + "]" * 5000 + "\n", "gate file"),
])
def test_bad_gate_file_options_are_refused(tmp_path, doc, message):
    path = tmp_path / "gates.yaml"
    path.write_text(doc)
    with pytest.raises(ConfigError, match=message):
        load_gates(path)


def test_valid_gate_specs_are_accepted(tmp_path):
    path = tmp_path / "gates.yaml"
    path.write_text("gates:\n  - {metric: gold, max_drop: 1}\n"
                    "  - {metric: rougeL, max_drop: 5, relative: true, significance: false}\n"
                    "  - {metric: kl, max: 12}\n  - 'reward:drop>0'\n  - {metric: x, min: -3}\n"
                    "confidence: 0.9\ncheckpoint: last\n")
    gates, options = load_gates(path)
    assert [g.spec for g in gates] == ["gold:drop>1", "rougeL:drop>5%", "kl:>12",
                                       "reward:drop>0", "x:<-3"]
    assert gates[1].significance is False and options["confidence"] == 0.9
    assert parse_gate("gold:drop>0.02").max_drop == 0.02
    assert Gate("kl", max=12).max == 12.0


PAIR = {"prompt": "p", "chosen": "a", "rejected": "b"}


def _deep(n):
    return "[" * n + "]" * n


@pytest.mark.parametrize("line, field", [
    (json.dumps(PAIR)[:-1] + ', "meta": {"x": ' + _deep(100_000) + "}}", None),
    (json.dumps(PAIR)[:-1] + ', "meta": {"x": ' + _deep(40) + "}}", "meta"),
    (json.dumps({**PAIR, "chosen": "ok"}).replace('"ok"', '"\\ud800 lone"'), "chosen"),
    (json.dumps({**PAIR, "margin": 1}).replace(": 1}", ": " + "9" * 5000 + "}"), None),
    (json.dumps({**PAIR, "margin": 1}).replace(": 1}", ": " + "9" * 40 + "}"), "margin"),
])
def test_hostile_json_is_a_data_error_at_validation(tmp_path, capsys, line, field):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps(PAIR) + "\n" + line + "\n", encoding="utf-8")
    assert main(["data", "validate", str(data), "--kind", "pair"]) == 2
    err = capsys.readouterr().err
    assert "pairs.jsonl:2" in err and "Traceback" not in err and err.count("\n") == 1
    if field:
        assert f"field '{field}" in err
    # skipping: the bad record is listed, exit 1 ("records were skipped")
    assert main(["data", "validate", str(data), "--kind", "pair", "--on-error", "skip"]) == 1
    # convert refuses it too and writes nothing
    out = tmp_path / "out.parquet"
    assert main(["data", "convert", str(data), str(out), "--kind", "pair"]) == 2
    assert not out.exists()


def test_a_json_list_file_with_deep_nesting(tmp_path, capsys):
    data = tmp_path / "pairs.json"
    data.write_text("[" + json.dumps(PAIR) + ",\n" + _deep(100_000) + "]")
    assert main(["data", "validate", str(data), "--kind", "pair"]) == 2
    assert "pairs.json:2" in capsys.readouterr().err


def test_no_code_runs_from_files_by_default():
    """No pickle-capable loader without weights_only, and trust_remote_code only when asked."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "rlhf_eval"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "trust_remote_code=True" not in text, path
        assert not re.search(r"weights_only\s*=\s*False|pickle\.loads?\(|read_pickle|"
                             r"allow_pickle\s*=\s*True", text), path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)
