"""Adapters: HH-RLHF and SummEval counts on the bundled files, TRL layouts, bundled data."""
from __future__ import annotations

import gzip
import hashlib
import json
import re

import pytest

from rlhf_eval.adapters import (ADAPTERS, SUMMEVAL_ASPECTS, get_adapter, split_hh_dialogue,
                                trl_adapter)
from rlhf_eval.bundled import (bundled_path, data_dir, hh_rlhf_pairs, summeval_frame,
                               summeval_records)
from rlhf_eval.errors import DataError
from rlhf_eval.io import read_records, write_records
from rlhf_eval.schema import PreferencePair


def _raw_hh(name):
    with gzip.open(bundled_path(name), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def hh():
    """Raw rows and adapted results of both bundled HH-RLHF test splits."""
    return {name: (_raw_hh(f"hh-rlhf/{name}"), hh_rlhf_pairs(f"hh-rlhf/{name}"))
            for name in ("helpful-base", "harmless-base")}


def _reasons(result):
    kinds = {"differ": "differ before their final Assistant turn",
             "duplicate": "the same dialogue", "empty": "is empty"}
    out = {k: [] for k in kinds}
    for loc, why in result.skipped:
        (kind,) = [k for k, text in kinds.items() if text in why]
        out[kind].append(loc.line)
    return out


# numbers from data/hh-rlhf/SOURCE.md: pairs, pairs sharing all but the final turn, exact dups
HH_SOURCE_COUNTS = {"helpful-base": (2354, 2345, 2), "harmless-base": (2312, 2307, 0)}


@pytest.mark.parametrize("name", list(HH_SOURCE_COUNTS))
def test_hh_rlhf_counts_match_source_notes(hh, name):
    raw, result = hh[name]
    total, sharing, duplicates = HH_SOURCE_COUNTS[name]
    # independent count: the text before the last "\n\nAssistant:" is the same on both sides
    prefix = [r["chosen"].rsplit("\n\nAssistant:", 1)[0] == r["rejected"].rsplit(
        "\n\nAssistant:", 1)[0] for r in raw]
    assert len(raw) == total and sum(prefix) == sharing
    assert sum(r["chosen"] == r["rejected"] for r in raw) == duplicates
    reasons = _reasons(result)
    # treatment of each non-conforming pair (all skipped, each with its reason):
    # 1. not sharing all turns but the last -> "differ before their final Assistant turn"
    assert reasons["differ"] == [i + 1 for i, ok in enumerate(prefix) if not ok]
    assert len(reasons["differ"]) == total - sharing  # 9 helpful, 5 harmless
    # 2. exact duplicates -> "the same dialogue" (no preference to learn)
    assert reasons["duplicate"] == [i + 1 for i, r in enumerate(raw)
                                    if r["chosen"] == r["rejected"]]
    # 3. an empty final Assistant turn -> "is empty" (PreferencePair needs two completions)
    empty = [i + 1 for i, r in enumerate(raw) if prefix[i] and r["chosen"] != r["rejected"] and (
        not r["chosen"].rsplit("\n\nAssistant:", 1)[1].strip()
        or not r["rejected"].rsplit("\n\nAssistant:", 1)[1].strip())]
    assert reasons["empty"] == empty and len(empty) == 4
    assert result.counts["read"] == total
    assert len(result.records) == sharing - duplicates - len(empty)  # 2339 / 2303


def test_hh_rlhf_split_is_lossless_and_keeps_multi_turn_prompts(hh):
    raw, result = hh["helpful-base"]
    by_line = {i + 1: r for i, r in enumerate(raw)}
    skipped = {loc.line for loc, _ in result.skipped}
    kept = [line for line in sorted(by_line) if line not in skipped]
    multi_turn = 0
    for line, pair in zip(kept, result.records):
        assert pair.prompt + pair.chosen == by_line[line]["chosen"]
        assert pair.prompt + pair.rejected == by_line[line]["rejected"]
        assert pair.prompt.endswith("\n\nAssistant:") and pair.prompt.startswith("\n\nHuman:")
        assert "\n\nAssistant:" not in pair.chosen and "\n\nHuman:" not in pair.chosen
        multi_turn += pair.prompt.count("\n\nHuman:") > 1
    assert multi_turn > 1000  # helpful-base is mostly multi-turn: prompts were kept whole


def test_hh_rlhf_errors_through_read_records_and_cli(tmp_path, cli):
    path = tmp_path / "hh.jsonl"
    rows = [{"chosen": "\n\nHuman: hi\n\nAssistant: hello",
             "rejected": "\n\nHuman: hi\n\nAssistant: go"},
            {"chosen": "\n\nHuman: hi\n\nAssistant: a\n\nHuman: more", "rejected": "\n\nHuman: x"},
            {"chosen": "no markers", "rejected": "\n\nHuman: hi\n\nAssistant: b"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = read_records(path, "pair", adapter="hh-rlhf", on_error="skip")
    assert result.records == [PreferencePair("\n\nHuman: hi\n\nAssistant:", " hello", " go")]
    assert [(loc.line, loc.field) for loc, _ in result.skipped] == [(2, "chosen"), (3, "chosen")]
    assert "ends with" in result.skipped[0][1] or "does not end" in result.skipped[0][1]
    code, _, err = cli("data", "validate", path, "--adapter", "hh-rlhf")
    assert code == 2 and f"{path}:2: field 'chosen'" in err
    with pytest.raises(DataError, match="produces \\['pair'\\] records, not 'sample'"):
        read_records(path, "sample", adapter="hh-rlhf")
    assert split_hh_dialogue("\n\nHuman: a\n\nAssistant: b") == ("\n\nHuman: a\n\nAssistant:", " b")


# ------------------------------------------------------------------------------ TRL


def _hh_messages(dialogue):
    """HH text -> messages, written independently of the adapter (regex split)."""
    parts = re.split(r"\n\n(Human|Assistant):", dialogue)
    assert parts[0] == ""
    msgs = []
    for role, text in zip(parts[1::2], parts[2::2]):
        if not text.startswith(" "):
            return None
        msgs.append({"role": {"Human": "user", "Assistant": "assistant"}[role],
                     "content": text[1:]})
    return msgs


def test_trl_conversations_render_exactly_like_the_hh_adapter(hh):
    raw, result = hh["helpful-base"]
    skipped = {loc.line for loc, _ in result.skipped}
    expected = iter(result.records)
    trl = get_adapter("trl")
    compared = 0
    for line, row in enumerate(raw[:400], 1):
        if line in skipped:
            continue
        want = next(expected)
        chosen, rejected = _hh_messages(row["chosen"]), _hh_messages(row["rejected"])
        if chosen is None or rejected is None:
            continue  # a turn without the usual space after the colon
        # implicit prompt: the shared leading messages
        (got,) = trl.convert({"chosen": chosen, "rejected": rejected}, True)
        assert (got.prompt, got.chosen, got.rejected) == (want.prompt, want.chosen, want.rejected)
        # explicit prompt
        explicit = {"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}
        (got2,) = trl.convert(explicit, True)
        assert got2 == got and got.meta["chosen_messages"] == chosen[-1:]
        compared += 1
    assert compared > 350


def test_trl_string_rows_scores_and_errors(tmp_path, cli):
    path = tmp_path / "trl.jsonl"
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": 8.0,
             "score_rejected": 5.5},
            {"prompt": [{"role": "user", "content": "hi"}],
             "chosen": [{"role": "assistant", "content": "yo"}],
             "rejected": [{"role": "user", "content": "?"}]},
            {"prompt": [{"role": "robot", "content": "hi"}],
             "chosen": [{"role": "assistant", "content": "yo"}],
             "rejected": [{"role": "assistant", "content": "no"}]},
            {"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
             "rejected": [{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]},
            {"prompt": "p", "chosen": "a", "rejected": "b", "source": "web"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = read_records(path, "pair", adapter="trl", on_error="skip")
    assert result.records == [PreferencePair("p", "a", "b", margin=2.5)]
    assert [(loc.line, loc.field) for loc, _ in result.skipped] == [
        (2, "rejected"), (3, "prompt[0].role"), (4, "prompt"), (5, "source")]
    assert len(read_records(path, "pair", adapter="trl", on_error="skip", strict=False)) == 2
    code, _, err = cli("data", "validate", path, "--adapter", "trl")
    assert code == 2 and f"{path}:2: field 'rejected'" in err
    # conversations survive a CSV round trip as JSON cells
    csv_path = tmp_path / "trl.csv"
    conv = {"prompt": [{"role": "system", "content": "be brief"},
                       {"role": "user", "content": "hi"}],
            "chosen": [{"role": "assistant", "content": "hello, you"}],
            "rejected": [{"role": "assistant", "content": "go away"}]}
    write_records(csv_path, [conv])
    (pair,) = read_records(csv_path, "pair", adapter="trl").records
    assert pair.prompt == "\n\nSystem: be brief\n\nHuman: hi\n\nAssistant:"
    assert (pair.chosen, pair.rejected) == (" hello, you", " go away")
    code, out, _ = cli("data", "convert", csv_path, tmp_path / "out.jsonl", "--adapter", "trl")
    assert code == 0 and read_records(tmp_path / "out.jsonl", "pair").records == [pair]


def test_trl_with_a_tokenizer_chat_template(tmp_path, cli):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0},
                                                                              unk_token="[UNK]")))
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
                         "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    row = {"prompt": [{"role": "user", "content": "2+2?"}],
           "chosen": [{"role": "assistant", "content": "4"}],
           "rejected": [{"role": "assistant", "content": "5"}]}
    (pair,) = trl_adapter(tokenizer=tok).convert(row, True)
    assert pair.prompt == "<|user|>2+2?<|end|><|assistant|>"
    assert (pair.chosen, pair.rejected) == ("4<|end|>", "5<|end|>")
    # the same through the CLI with a saved tokenizer folder
    tok.save_pretrained(tmp_path / "tok")
    (tmp_path / "in.jsonl").write_text(json.dumps(row) + "\n")
    code, _, err = cli("data", "convert", tmp_path / "in.jsonl", tmp_path / "out.jsonl",
                       "--adapter", "trl", "--tokenizer", tmp_path / "tok")
    assert code == 0, err
    assert read_records(tmp_path / "out.jsonl", "pair").records == [pair]
    code, _, err = cli("data", "validate", tmp_path / "in.jsonl", "--tokenizer", tmp_path / "tok")
    assert code == 2 and "--tokenizer only applies to --adapter trl" in err
    # a template whose generation prompt is not a prefix of the conversation is refused
    tok.chat_template = ("{% for m in messages %}[{{ m['content'] }}]{% endfor %}"
                         "{% if add_generation_prompt %}>>{% endif %}")
    with pytest.raises(DataError, match="not a prefix"):
        trl_adapter(tokenizer=tok).convert(row, True)
    tok.chat_template = "{{ raise_exception('no system role') }}"
    with pytest.raises(DataError, match="chat template failed: no system role"):
        trl_adapter(tokenizer=tok).convert(row, True)


# ------------------------------------------------------------------------------ SummEval


@pytest.fixture(scope="module")
def summeval_raw():
    return json.loads(bundled_path("summeval").read_text(encoding="utf-8"))


def test_summeval_records(summeval_raw):
    samples, judgements = summeval_records()
    assert len(samples) == 1600 and len(judgements) == 6400
    assert len({s.id for s in samples}) == 1600
    assert len({s.meta["doc_id"] for s in samples}) == 100
    assert len({s.system for s in samples}) == 16
    assert all(len(s.references) == 11 for s in samples)
    assert {j.annotator for j in judgements} == {"expert_mean"}
    assert {j.aspect for j in judgements} == set(SUMMEVAL_ASPECTS)
    s = samples[0]
    doc_id, system = s.id.split("/")
    doc = summeval_raw[doc_id]
    assert (s.prompt, s.completion, s.references, s.system) == (
        doc["src"], doc["sys_summs"][system]["sys_summ"], doc["ref_summs"], system)
    assert s.references[0] == doc["ref_summ"]
    scores = {j.aspect: j.score for j in judgements if j.sample_id == s.id}
    assert scores == doc["sys_summs"][system]["scores"]


def test_summeval_frame_matches_the_raw_file(summeval_raw):
    frame = summeval_frame()
    assert list(frame.columns) == ["doc_id", "system", "output", "references", "source",
                                   "coherence", "consistency", "fluency", "relevance"]
    assert frame.shape == (1600, 9) and not frame.isna().any().any()
    for row in frame.sample(n=50, random_state=0).itertuples():
        entry = summeval_raw[row.doc_id]["sys_summs"][row.system]
        assert row.output == entry["sys_summ"] and row.source == summeval_raw[row.doc_id]["src"]
        assert row.references == summeval_raw[row.doc_id]["ref_summs"]
        assert [getattr(row, a) for a in SUMMEVAL_ASPECTS] == [entry["scores"][a]
                                                                for a in SUMMEVAL_ASPECTS]
    # independent aggregate: mean relevance over all 1,600 summaries
    rel = [s["scores"]["relevance"] for d in summeval_raw.values() for s in d["sys_summs"].values()]
    assert frame["relevance"].mean() == pytest.approx(sum(rel) / len(rel), rel=1e-12)


def test_summeval_bad_documents(tmp_path, summeval_raw, cli):
    docs = dict(list(summeval_raw.items())[:3])
    first, second, _ = docs
    docs[first] = json.loads(json.dumps(docs[first]))
    docs[first]["sys_summs"]["M0"]["scores"]["fluency"] = 7
    docs[second] = {**docs[second], "extra": 1}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(docs))
    result = read_records(path, "sample", adapter="summeval", on_error="skip")
    assert len(result.records) == 16 and result.counts["read"] == 3
    (loc1, why1), (loc2, why2) = result.skipped
    assert (loc1.line, loc1.field) == (1, f"{first}.sys_summs.M0.scores.fluency")
    assert "expected a score in [1, 5], found 7" in why1
    assert (loc2.line, loc2.field) == (2, "extra") and "unknown field" in why2
    code, _, err = cli("data", "validate", path, "--adapter", "summeval", "--kind", "judgement")
    assert code == 2 and f"{path}: document 1: field '{first}.sys_summs.M0.scores.fluency'" in err
    code, out, _ = cli("data", "validate", bundled_path("summeval"), "--adapter", "summeval",
                       "--kind", "judgement")
    assert code == 0 and "read 100 input record(s): 100 ok, 0 skipped; 6400 judgement" in out


# ------------------------------------------------------------------------------ bundled data


def test_bundled_data_lives_in_the_repository_and_is_unchanged():
    root = data_dir().resolve()
    assert root.name == "data" and "shared" not in root.parts
    for name, rel in [("summeval", "summeval/summeval.json"),
                      ("hh-rlhf/helpful-base", "hh-rlhf/helpful-base/test.jsonl.gz"),
                      ("harmless-base", "hh-rlhf/harmless-base/test.jsonl.gz")]:
        path = bundled_path(name)
        assert path == root / rel
        notes = (root / rel.split("/")[0] / "SOURCE.md").read_text()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in notes  # the SOURCE note states the sha256 of the copy
    with pytest.raises(DataError, match="did you mean"):
        bundled_path("sumeval")
    with pytest.raises(DataError, match="unknown adapter 'hh'"):
        get_adapter("hh")
    assert set(ADAPTERS) == {"hh-rlhf", "trl", "summeval"}


def test_bundled_data_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EVAL_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="bundled data file is missing"):
        bundled_path("summeval")
