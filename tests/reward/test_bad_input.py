"""Bad models, tokenizers and data: a clear message and exit code 2, never a silent NaN."""
import json
import shutil

import numpy as np
import pytest

from reward_helpers import write_jsonl
from rlhf_eval.cli import main
from rlhf_eval.schema import Sample


def _samples(tmp_path, rows):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _score(model, data, out, capsys):
    code = main(["score", "--model", str(model), "--data", str(data), "--out", str(out)])
    return code, capsys.readouterr()


def test_causal_lm_is_not_a_reward_model(gpt2_dir, tmp_path, capsys):
    data = _samples(tmp_path, [{"prompt": "a", "completion": "b"}])
    code, cap = _score(gpt2_dir, data, tmp_path / "o.jsonl", capsys)
    assert code == 2 and "not a reward model" in cap.err and "GPT2LMHeadModel" in cap.err
    assert not (tmp_path / "o.jsonl").exists()


def test_two_label_classifier_is_refused(gpt2_dir, tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(gpt2_dir, num_labels=2)
    model.config.pad_token_id = 0
    model.save_pretrained(tmp_path / "clf")
    AutoTokenizer.from_pretrained(gpt2_dir).save_pretrained(tmp_path / "clf")
    data = _samples(tmp_path, [{"prompt": "a", "completion": "b"}])
    code, cap = _score(tmp_path / "clf", data, tmp_path / "o.jsonl", capsys)
    assert code == 2 and "2 labels" in cap.err and "expected exactly 1" in cap.err


def _rm_with_tokenizer(trained_rm, tmp_path, change):
    from transformers import AutoTokenizer

    src, _ = trained_rm
    dst = tmp_path / "rm"
    shutil.copytree(src, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    change(tok)
    (dst / "tokenizer.json").unlink()
    (dst / "tokenizer_config.json").unlink()
    tok.save_pretrained(dst)
    return dst


def test_tokenizer_without_pad_token(trained_rm, tmp_path, capsys):
    def drop_pad(tok):
        tok.pad_token = None

    rm = _rm_with_tokenizer(trained_rm, tmp_path, drop_pad)
    data = _samples(tmp_path, [{"prompt": "a", "completion": "b"}])
    code, cap = _score(rm, data, tmp_path / "o.jsonl", capsys)
    assert code == 2 and "no pad token" in cap.err


def test_pad_equal_to_eos_is_refused(trained_rm, tmp_path, capsys):
    def pad_is_eos(tok):
        tok.pad_token = tok.eos_token

    rm = _rm_with_tokenizer(trained_rm, tmp_path, pad_is_eos)
    data = _samples(tmp_path, [{"prompt": "a", "completion": "b"}])
    code, cap = _score(rm, data, tmp_path / "o.jsonl", capsys)
    assert code == 2 and "EOS as its pad token" in cap.err


def test_missing_model_path(tmp_path, capsys):
    data = _samples(tmp_path, [{"prompt": "a", "completion": "b"}])
    code, cap = _score(tmp_path / "nope", data, tmp_path / "o.jsonl", capsys)
    assert code == 2 and "nope" in cap.err


def test_empty_completion_is_scored_and_reported(trained_rm, tmp_path, capsys):
    path, _ = trained_rm
    data = _samples(tmp_path, [{"prompt": "Question 1:", "completion": ""},
                               {"prompt": "Question 1:", "completion": " kind"}])
    code, cap = _score(path, data, tmp_path / "o.jsonl", capsys)
    assert code == 0 and "1 empty completion" in cap.out
    rewards = [json.loads(x)["reward"] for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert np.all(np.isfinite(rewards))


def test_nothing_to_score(trained_rm, tmp_path, capsys):
    path, _ = trained_rm
    data = _samples(tmp_path, [{"prompt": " ", "completion": ""}])
    code, cap = _score(path, data, tmp_path / "o.jsonl", capsys)
    assert code == 2 and "nothing to score" in cap.err


def test_bad_pair_names_file_line_field(trained_rm, tmp_path, capsys):
    path, _ = trained_rm
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n"
                    + json.dumps({"prompt": "q", "chosen": "", "rejected": "b"}) + "\n")
    code = main(["eval-rm", "--model", str(path), "--data", str(data), "--out",
                 str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and "pairs.jsonl:2" in err and "'chosen'" in err


def test_train_rm_unknown_config_key(gpt2_dir, tmp_path, capsys, task):
    data = write_jsonl(tmp_path / "train.jsonl", task["train"][:8])
    (tmp_path / "cfg.yaml").write_text("learning_rate: 0.1\n")
    code = main(["train-rm", "--data", str(data), "--model", gpt2_dir, "--out",
                 str(tmp_path / "rm"), "--config", str(tmp_path / "cfg.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "learning_rate" in err


def test_too_long_sequences_are_counted_in_eval(trained_rm, tmp_path, capsys):
    path, _ = trained_rm
    pairs = [{"prompt": "Question 2: reply please. " * 40, "chosen": " great", "rejected": " rude"},
             {"prompt": "Question 1:", "chosen": " kind", "rejected": " lazy"}]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    out = tmp_path / "ev"
    assert main(["eval-rm", "--model", str(path), "--data", str(data), "--out", str(out),
                 "--n-resamples", "50"]) == 0
    result = json.loads((out / "rm_eval.json").read_text())
    assert result["truncated_sequences"] == 2  # both sides of the long pair
    assert result["accuracy"]["n"] == 2


def test_eval_rm_best_of_n_items_equal_direct_scoring(trained_rm, tmp_path, capsys):
    """RewardBench-2-style items: the accuracy is the share of items whose chosen completion the
    RM scores strictly highest, recomputed here from the RM's own scores one by one."""
    from rlhf_eval.rm.scorer import RewardScorer

    path, _ = trained_rm
    items = [{"prompt": f"Question {k}:", "chosen": [[" kind and clear", " no", " rude"][k % 3]],
              "rejected": [" rude", " lazy answer", " no"][: 1 + k % 3],
              "subset": "odd" if k % 2 else "even"} for k in range(8)]
    ties = {"prompt": "q", "chosen": [" a", " b"], "rejected": [" c"], "subset": "Ties"}
    bon = tmp_path / "bon.jsonl"
    bon.write_text("".join(json.dumps(r) + "\n" for r in items + [ties]))
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n")
    out = tmp_path / "ev"
    assert main(["eval-rm", "--model", str(path), "--data", str(data), "--out", str(out),
                 "--best-of-n", str(bon), "--n-resamples", "50"]) == 0
    got = json.loads((out / "rm_eval.json").read_text())["best_of_n"]
    scorer = RewardScorer(str(path), device="cpu")
    hits = []
    for r in items:
        texts = r["chosen"] + r["rejected"]
        s = [float(scorer.score([r["prompt"]], [t])[0]) for t in texts]
        hits.append(s[0] > max(s[1:]))
    assert got["value"] == pytest.approx(np.mean(hits))
    assert got["n_items"] == 8 and got["chance"] == pytest.approx(
        np.mean([1 / (2 + k % 3) for k in range(8)]))
    assert set(got["by_subset"]) == {"odd", "even"} and got["skipped_multi_chosen"] == 1
    assert "best-of-N" in capsys.readouterr().out


def test_eval_rm_bad_best_of_n_item_names_file_line_field(trained_rm, tmp_path, capsys):
    path, _ = trained_rm
    bon = tmp_path / "bon.jsonl"
    bon.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": ["b"]}) + "\n"
                   + json.dumps({"prompt": "q", "chosen": "a", "rejected": []}) + "\n")
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n")
    code = main(["eval-rm", "--model", str(path), "--data", str(data), "--out",
                 str(tmp_path / "ev"), "--best-of-n", str(bon)])
    err = capsys.readouterr().err
    assert code == 2 and "bon.jsonl:2" in err and "'rejected'" in err
    assert not (tmp_path / "ev").exists()
