"""rlhf_eval.io: round trips for every format, bad input with file:line:field, skip mode."""
from __future__ import annotations

import gzip
import json
import re

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.io import (ReadResult, detect_format, guess_kind, read_records, to_dataset,
                          to_pairs, write_records)
from rlhf_eval.schema import PreferencePair, Ranking

FILE_FORMATS = {"jsonl": "x.jsonl", "jsonl.gz": "x.jsonl.gz", "json": "x.json", "csv": "x.csv",
                "parquet": "x.parquet", "hf": "x_saved"}
KINDS = ["pair", "ranking", "sample", "judgement", "choice"]


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", list(FILE_FORMATS))
def test_round_trip_every_format_and_kind(tmp_path, records_by_kind, fmt, kind):
    records = records_by_kind[kind]
    path = tmp_path / FILE_FORMATS[fmt]
    assert write_records(path, records, format="hf" if fmt == "hf" else None) == len(records)
    assert detect_format(path) == fmt
    result = read_records(path, kind)
    assert result.records == records
    assert result.counts == {"read": len(records), "ok": len(records), "skipped": 0,
                             "input_ok": len(records)}
    # no temp files are left next to the target
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_hf_dataset_object_and_dataset_dict(records_by_kind, kind):
    records = records_by_kind[kind]
    ds = to_dataset(records)
    assert isinstance(ds, datasets.Dataset) and len(ds) == len(records)
    assert read_records(ds, kind).records == records
    dd = datasets.DatasetDict({"train": ds, "test": ds.select([0])})
    both = read_records(dd, kind)
    assert both.records == records + records[:1]
    assert "<DatasetDict>[train]" in both.source and "<DatasetDict>[test]" in both.source
    assert read_records(dd, kind, split="test").records == records[:1]
    with pytest.raises(DataError, match="no split 'dev'"):
        read_records(dd, kind, split="dev")


def test_saved_dataset_dict_folder(tmp_path, records_by_kind):
    pairs = records_by_kind["pair"]
    dd = datasets.DatasetDict({"train": to_dataset(pairs), "test": to_dataset(pairs[:2])})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert read_records(tmp_path / "dd", "pair", split="test").records == pairs[:2]
    assert len(read_records(tmp_path / "dd", "pair")) == 5


def test_reads_a_plain_hf_dataset_built_elsewhere():
    # a dataset as users get it from the hub: plain columns, no meta, extra nulls
    ds = datasets.Dataset.from_dict({"prompt": ["p1", "p2"], "chosen": ["a", "c"],
                                     "rejected": ["b", "d"], "margin": [None, 2.0]})
    pairs = read_records(ds, "pair").records
    assert pairs == [PreferencePair("p1", "a", "b"), PreferencePair("p2", "c", "d", margin=2.0)]


def test_format_override_and_unknown_extension(tmp_path, records_by_kind):
    path = tmp_path / "pairs.txt"
    write_records(path, records_by_kind["pair"], format="jsonl")
    assert read_records(path, "pair", format="jsonl").records == records_by_kind["pair"]
    with pytest.raises(DataError, match="cannot tell the format") as err:
        read_records(path, "pair")
    assert str(path) in str(err.value)
    with pytest.raises(DataError, match="unknown format 'xml'"):
        read_records(path, "pair", format="xml")


def test_gzip_output_is_reproducible_and_really_gzip(tmp_path, records_by_kind):
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_records(a, records_by_kind["pair"])
    write_records(b, records_by_kind["pair"])
    assert a.read_bytes() == b.read_bytes()
    lines = gzip.decompress(a.read_bytes()).decode().splitlines()
    assert [json.loads(x) for x in lines] == [r.to_dict() for r in records_by_kind["pair"]]


def test_csv_cells_are_readable_by_other_tools(tmp_path, records_by_kind):
    import pandas as pd

    write_records(tmp_path / "s.csv", records_by_kind["sample"])
    frame = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert json.loads(frame.loc[0, "references"]) == ["ref 1", 'ref "2"']
    assert frame.loc[0, "completion"] == "summary, one" and frame.loc[1, "completion"] == ""


def test_blank_lines_and_bom_are_tolerated(tmp_path):
    path = tmp_path / "p.jsonl"
    row = json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"})
    path.write_bytes(b"\xef\xbb\xbf" + row.encode() + b"\n\n" + row.encode() + b"\n  \n")
    assert read_records(path, "pair").counts["ok"] == 2


def test_empty_inputs(tmp_path):
    for name, content in (("e.jsonl", ""), ("e.json", "[]"), ("e.csv", "")):
        (tmp_path / name).write_text(content)
        assert read_records(tmp_path / name, "pair").records == []
    write_records(tmp_path / "e.parquet", [])
    assert read_records(tmp_path / "e.parquet", "pair").records == []


def test_guess_kind(tmp_path, records_by_kind):
    for kind, records in records_by_kind.items():
        write_records(tmp_path / f"{kind}.jsonl", records)
        assert guess_kind(tmp_path / f"{kind}.jsonl") == kind
    (tmp_path / "hh.jsonl").write_text(json.dumps({"chosen": "x", "rejected": "y"}) + "\n")
    with pytest.raises(DataError, match="--adapter hh-rlhf"):
        guess_kind(tmp_path / "hh.jsonl")


def test_rankings_expand_to_k_choose_2_pairs(tmp_path, cli):
    ranking = Ranking("p", ["c0", "c1", "c2", "c3"], annotator="r")
    pairs = to_pairs([ranking, PreferencePair("q", "x", "y")])
    assert len(pairs) == 4 * 3 // 2 + 1
    # every pair puts the better-ranked completion first, and each unordered pair appears once
    assert {(p.chosen, p.rejected) for p in pairs[:6]} == {
        (f"c{i}", f"c{j}") for i in range(4) for j in range(i + 1, 4)}
    assert all(p.annotator == "r" and p.meta["ranking_size"] == 4 for p in pairs[:6])
    with pytest.raises(DataError, match="expected preference pairs or rankings"):
        to_pairs(["not a record"])
    # and through the CLI
    write_records(tmp_path / "r.jsonl", [ranking, Ranking("q", ["a", "b", "c"])])
    code, out, _ = cli("data", "convert", tmp_path / "r.jsonl", tmp_path / "p.parquet",
                       "--kind", "ranking", "--to-pairs")
    assert code == 0 and "wrote 9 record(s)" in out
    assert len(read_records(tmp_path / "p.parquet", "pair")) == 6 + 3


# ------------------------------------------------------------------------------ bad input

GOOD = {"prompt": "p", "chosen": "a", "rejected": "b"}

# (case, bad record, field named in the error, words in the reason)
BAD_RECORDS = [
    ("missing", {"prompt": "p", "rejected": "b"}, "chosen", "missing"),
    ("empty", {"prompt": "p", "chosen": "  ", "rejected": "b"}, "chosen", "non-empty"),
    ("wrong type", {"prompt": "p", "chosen": 5, "rejected": "b"}, "chosen", "expected a string"),
    ("chosen == rejected", {"prompt": "p", "chosen": "same", "rejected": "same"}, "rejected",
     "equals"),
    ("unknown field", {**GOOD, "chosen_score": 1}, "chosen_score", "unknown field"),
    ("bad margin", {**GOOD, "margin": "big"}, "margin", "expected a number"),
]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("case,bad,field,reason", BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_bad_record_jsonl_names_file_line_field(tmp_path, cli, case, bad, field, reason):
    path = tmp_path / "bad.jsonl"
    _write_jsonl(path, [GOOD, GOOD, bad, GOOD])
    with pytest.raises(DataError) as err:
        read_records(path, "pair")
    assert err.value.location.path == str(path) and err.value.location.line == 3
    assert err.value.location.field == field
    assert f"{path}:3: field '{field}'" in str(err.value) and reason in str(err.value)
    code, out, errout = cli("data", "validate", path, "--kind", "pair")
    assert code == 2 and f"{path}:3: field '{field}'" in errout and reason in errout


@pytest.mark.parametrize("case,bad,field,reason",
                         [c for c in BAD_RECORDS if c[0] != "wrong type"],
                         ids=[c[0] for c in BAD_RECORDS if c[0] != "wrong type"])
def test_bad_record_csv_names_line_and_field(tmp_path, cli, case, bad, field, reason):
    path = tmp_path / "bad.csv"
    # a multi-line cell before the bad record: the reported line is the line in the file
    write_records(path, [{**GOOD, "prompt": "two\nlines"}, GOOD, bad, GOOD])
    with pytest.raises(DataError) as err:
        read_records(path, "pair")
    assert f"{path}:5: field '{field}'" in str(err.value) and reason in str(err.value)
    code, _, errout = cli("data", "validate", path)
    assert code == 2 and f"{path}:5: field '{field}'" in errout


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_bad_record_in_row_formats_names_row_and_field(tmp_path, cli, fmt):
    path = tmp_path / ("bad.parquet" if fmt == "parquet" else "bad_saved")
    write_records(path, [GOOD, GOOD, {"prompt": "p", "chosen": "same", "rejected": "same"}],
                  format=fmt)
    with pytest.raises(DataError) as err:
        read_records(path, "pair")
    assert f"{path}: row 3: field 'rejected'" in str(err.value)
    code, _, errout = cli("data", "validate", path, "--kind", "pair")
    assert code == 2 and f"{path}: row 3: field 'rejected'" in errout


def test_wrong_type_in_parquet_column(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"prompt": ["p"], "chosen": [7], "rejected": ["b"]}), path)
    with pytest.raises(DataError, match=r"row 1: field 'chosen': expected a string, found int"):
        read_records(path, "pair")


def test_malformed_json_line(tmp_path, cli):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + '{"prompt": "p", "chosen": "a",\n'
                    + json.dumps(GOOD) + "\n[1, 2]\n")
    with pytest.raises(DataError, match=rf"{path}:2: malformed JSON"):
        read_records(path, "pair")
    result = read_records(path, "pair", on_error="skip")
    assert [(loc.line, "malformed JSON" in why or "JSON object" in why)
            for loc, why in result.skipped] == [(2, True), (4, True)]
    code, _, errout = cli("data", "validate", path)
    assert code == 2 and f"{path}:2: malformed JSON" in errout


def test_non_utf8_byte_reports_line_and_byte_offset(tmp_path, cli):
    path = tmp_path / "u.jsonl"
    first = (json.dumps(GOOD) + "\n").encode()
    bad = b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n'
    path.write_bytes(first + bad)
    offset = len(first) + bad.index(b"\xe9")
    with pytest.raises(DataError) as err:
        read_records(path, "pair")
    assert err.value.location.line == 2
    assert f"byte 0xe9 at byte offset {offset}" in str(err.value)
    code, _, errout = cli("data", "validate", path)
    assert code == 2 and f"{path}:2:" in errout and f"byte offset {offset}" in errout
    # the same byte in a CSV cell: line, offset and the column it sits in
    csv_path = tmp_path / "u.csv"
    head = b"prompt,chosen,rejected\np,a,b\n"
    csv_path.write_bytes(head + b"q,caf\xe9,b\n")
    with pytest.raises(DataError) as err:
        read_records(csv_path, "pair")
    assert f"{csv_path}:3: field 'chosen'" in str(err.value)
    assert f"byte offset {len(head) + 5}" in str(err.value)
    # and in a JSON list: the whole file is unreadable, so it is always an error
    json_path = tmp_path / "u.json"
    json_path.write_bytes(b'[\n{"prompt": "p", "chosen": "a", "rejected": "b"},\n'
                          b'{"prompt": "\xff"}]')
    with pytest.raises(DataError, match=rf"{json_path}:3: not valid UTF-8: byte 0xff"):
        read_records(json_path, "pair", on_error="skip")


def test_json_list_lines_and_structure_errors(tmp_path):
    path = tmp_path / "l.json"
    path.write_text("[\n" + json.dumps(GOOD) + ",\n" + json.dumps(GOOD) + ",\n  {\n"
                    '  "prompt": "p", "chosen": "", "rejected": "b"}\n]\n')
    with pytest.raises(DataError, match=rf"{path}:4: field 'chosen'"):
        read_records(path, "pair")
    (tmp_path / "o.json").write_text(json.dumps(GOOD))
    with pytest.raises(DataError, match="expected a JSON list of records, found an object"):
        read_records(tmp_path / "o.json", "pair")
    (tmp_path / "t.json").write_text("[" + json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "]")
    with pytest.raises(DataError, match=r"t.json:2: malformed JSON: expected ',' or ']'"):
        read_records(tmp_path / "t.json", "pair")


def test_csv_structure_errors(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("prompt,chosen,rejected\np,a,b\np,a\np,a,b,extra\np,a,b\n")
    result = read_records(path, "pair", on_error="skip")
    assert result.counts["ok"] == 2
    assert [(loc.line, "expected 3 cells" in why) for loc, why in result.skipped] == [
        (3, True), (4, True)]
    path.write_text("prompt,chosen,chosen\np,a,b\n")
    with pytest.raises(DataError, match="duplicate column"):
        read_records(path, "pair")
    path.write_text("prompt,completion,references\np,c,[\"unterminated\n")
    with pytest.raises(DataError, match=r"c.csv:2: field 'references': expected a JSON-encoded"):
        read_records(path, "sample")


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_records(tmp_path / "absent.jsonl", "pair")
    (tmp_path / "fake.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_records(tmp_path / "fake.jsonl.gz", "pair", on_error="skip")
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_records(tmp_path / "fake.parquet", "pair")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="save_to_disk"):
        read_records(tmp_path / "folder", "pair")
    with pytest.raises(DataError, match="unknown record kind 'pairs'"):
        read_records(tmp_path / "fake.parquet", "pairs")
    with pytest.raises(ValueError, match="on_error"):
        read_records(tmp_path / "fake.parquet", "pair", on_error="ignore")


def test_non_strict_ignores_unknown_fields(tmp_path):
    path = tmp_path / "x.jsonl"
    _write_jsonl(path, [{**GOOD, "source": "web"}])
    with pytest.raises(DataError, match="unknown field"):
        read_records(path, "pair")
    assert read_records(path, "pair", strict=False).records == [PreferencePair("p", "a", "b")]


# ------------------------------------------------------------------------------ skip mode


def test_skip_mode_lists_every_bad_record_with_its_reason(tmp_path, cli):
    path = tmp_path / "mixed.jsonl"
    bads = [case[1] for case in BAD_RECORDS]
    rows = [GOOD]
    for bad in bads:
        rows += [bad, GOOD]
    _write_jsonl(path, rows)
    result = read_records(path, "pair", on_error="skip")
    assert isinstance(result, ReadResult)
    assert result.counts == {"read": len(rows), "ok": len(bads) + 1, "skipped": len(bads),
                             "input_ok": len(bads) + 1}
    assert [loc.line for loc, _ in result.skipped] == [2 + 2 * i for i in range(len(bads))]
    assert [loc.field for loc, _ in result.skipped] == [case[2] for case in BAD_RECORDS]
    for (loc, why), case in zip(result.skipped, BAD_RECORDS):
        assert case[3] in why
    summary = result.summary()
    assert f"read {len(rows)} input record(s): {len(bads) + 1} ok, {len(bads)} skipped" in summary
    assert all(f"{path}:{2 + 2 * i}" in summary for i in range(len(bads)))
    # the CLI prints the same list and exits 1 (records were skipped), not 2
    code, out, _ = cli("data", "validate", path, "--on-error", "skip")
    assert code == 1 and len(re.findall(rf"{re.escape(str(path))}:\d+:", out)) == len(bads)
    code, out, _ = cli("data", "convert", path, tmp_path / "clean.csv", "--on-error", "skip")
    assert code == 0 and f"wrote {len(bads) + 1} record(s)" in out
    assert len(read_records(tmp_path / "clean.csv", "pair")) == len(bads) + 1


def test_cli_stats(tmp_path, cli, records_by_kind):
    write_records(tmp_path / "p.jsonl", records_by_kind["pair"])
    code, out, _ = cli("data", "stats", tmp_path / "p.jsonl", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["kind"] == "pair" and stats["records"] == 3
    # " 4" vs " five", 'He said "hi",\nthen left' vs "Ünïcødé ✓, ok", "a" vs "b"
    assert stats["chosen_longer_share"] == round(1 / 3, 4)
    assert stats["chosen_length"]["chars_max"] == len('He said "hi",\nthen left')
    write_records(tmp_path / "j.parquet", records_by_kind["judgement"])
    code, out, _ = cli("data", "stats", tmp_path / "j.parquet")
    assert code == 0 and "coherence: {'n': 1, 'mean': 4.0" in out


def test_duplicate_keys_are_an_error_not_a_silent_overwrite(tmp_path):
    line = '{"prompt": "p", "chosen": "a", "rejected": "b", "chosen": "c"}'
    (tmp_path / "d.jsonl").write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(DataError, match=r"d.jsonl:2: field 'chosen': the key appears twice"):
        read_records(tmp_path / "d.jsonl", "pair")
    (tmp_path / "d.json").write_text("[\n" + json.dumps(GOOD) + ",\n" + line + ",\n"
                                     + json.dumps(GOOD) + "\n]")
    result = read_records(tmp_path / "d.json", "pair", on_error="skip")
    assert result.counts["ok"] == 2
    assert [(loc.line, loc.field) for loc, _ in result.skipped] == [(3, "chosen")]


def test_bom_does_not_shift_byte_offsets(tmp_path):
    path = tmp_path / "b.jsonl"
    bad = b'{"prompt": "\xff"}\n'
    path.write_bytes(b"\xef\xbb\xbf" + bad)
    offset = 3 + bad.index(b"\xff")
    with pytest.raises(DataError, match=f"byte offset {offset} of the file"):
        read_records(path, "pair")


def test_real_command_line_process(tmp_path):
    """The installed entry point, in its own process: exit 2 and file:line:field on stderr."""
    import subprocess
    import sys

    path = tmp_path / "bad.jsonl"
    _write_jsonl(path, [GOOD, {**GOOD, "rejected": ""}])
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "data", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"rlhf-eval data: error: {path}:2: field 'rejected'" in proc.stderr


def test_iter_jsonl_names_file_and_line(tmp_path):
    from rlhf_eval.io import iter_jsonl

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "a"}\n\n{"prompt": \n')
    rows = iter_jsonl(path)
    assert next(rows) == (1, {"prompt": "a"})
    with pytest.raises(DataError, match=rf"{path}:3: malformed JSON"):
        next(rows)
    with pytest.raises(DataError, match="file not found"):
        list(iter_jsonl(tmp_path / "missing.jsonl"))
