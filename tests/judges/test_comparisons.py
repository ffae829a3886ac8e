"""Pairwise human data in public layouts -> one comparison record, and choices for correlate."""
import json

import pytest

from rlhf_eval.agreement import agreement_table
from rlhf_eval.comparisons import read_comparisons, to_choices
from rlhf_eval.errors import DataError


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_summarize_from_feedback_layout(tmp_path):
    row = {"info": {"id": "t3_x", "post": "My post", "title": "t"}, "split": "valid1",
           "summaries": [{"text": " short", "policy": "sup2"}, {"text": " longer one",
                                                                "policy": "ppo"}],
           "choice": 1, "worker": "w7", "extra": {"confidence": 8}}
    other = dict(row, worker="w9", choice=0)
    recs = read_comparisons(_jsonl(tmp_path / "c.jsonl", [row, other]),
                            "summarize-from-feedback")
    assert recs[0] == {"id": "t3_x", "prompt": "My post", "a": " short", "b": " longer one",
                       "winner": "b", "annotator": "w7", "confidence": 8, "system_a": "sup2",
                       "system_b": "ppo"}
    samples, choices = to_choices(recs)
    assert len(samples) == 2 and len(choices) == 2
    iaa = agreement_table(choices, level="nominal")    # same item, two workers, disagreeing
    assert iaa["percent_agreement"].iloc[0] == 0.0
    bad = dict(row, choice=2)
    with pytest.raises(DataError, match=r"c2.jsonl:2: field 'choice'"):
        read_comparisons(_jsonl(tmp_path / "c2.jsonl", [row, bad]), "summarize-from-feedback")


def test_mt_bench_layout(tmp_path):
    conv = lambda ans: [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": ans},
                        {"role": "user", "content": "Q2"},
                        {"role": "assistant", "content": ans + "!"}]
    row = {"question_id": 81, "model_a": "gpt-4", "model_b": "vicuna", "winner": "tie (bothbad)",
           "judge": "author_2", "conversation_a": conv("x"), "conversation_b": conv("y"),
           "turn": 2}
    (rec,) = read_comparisons(_jsonl(tmp_path / "m.jsonl", [row]), "mt-bench")
    assert (rec["a"], rec["b"], rec["winner"], rec["id"]) == ("x!", "y!", "tie", "81/t2")
    assert rec["prompt"].endswith("user: Q2")
    with pytest.raises(DataError, match="field 'winner'"):
        read_comparisons(_jsonl(tmp_path / "m2.jsonl", [dict(row, winner="model_c")]),
                         "mt-bench")


def test_alpaca_eval_layout_json_list(tmp_path):
    rows = [{"instruction": "Say hi", "output_1": "hi", "output_2": "hello there",
             "generator_1": "a", "generator_2": "b", "preference": 2, "annotator": "h1"},
            {"instruction": "Say hi", "output_1": "hi", "output_2": "hello there",
             "preference": 1.5, "annotator": "h2"}]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    recs = read_comparisons(str(tmp_path / "a.json"), "alpaca-eval")
    assert [r["winner"] for r in recs] == ["b", "tie"]
    (tmp_path / "b.json").write_text(json.dumps([dict(rows[0], preference=3)]))
    with pytest.raises(DataError, match="b.json:1: field 'preference'"):
        read_comparisons(str(tmp_path / "b.json"), "alpaca-eval")
