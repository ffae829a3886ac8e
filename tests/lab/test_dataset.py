import hashlib
import json
import subprocess
import sys

import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.io import read_records
from rlhf_eval.lab import FILES, generate_lab, lab_config, write_lab
from rlhf_eval.lab.perturb import EDITS, candidates, perturb
from rlhf_eval.lab import gold_reward


def _small(seed):
    return generate_lab(lab_config("test", seed, n_train=40, n_eval=10, n_rankings=10,
                                   n_rated_prompts=5))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_lab(_small(3), tmp_path / "a")
    b = write_lab(_small(3), tmp_path / "b")
    c = write_lab(_small(4), tmp_path / "c")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a == b and a["sha256"]["pairs.jsonl"] != c["sha256"]["pairs.jsonl"]
    assert (tmp_path / "a" / "lab.json").read_bytes() == (tmp_path / "b" / "lab.json").read_bytes()


def test_files_follow_the_schema_and_the_manifest(tmp_path):
    manifest = write_lab(_small(0), tmp_path)
    assert json.loads((tmp_path / "lab.json").read_text()) == manifest
    kinds = {"sft.jsonl": "sample", "prompts_train.jsonl": "sample",
             "prompts_eval.jsonl": "sample", "pairs.jsonl": "pair", "pairs_eval.jsonl": "pair",
             "rankings.jsonl": "ranking", "rating_samples.jsonl": "sample",
             "ratings.jsonl": "judgement"}
    for name, kind in kinds.items():
        records = read_records(tmp_path / name, kind).records  # strict: unknown fields fail
        assert len(records) == manifest["counts"][name] > 0, name
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert manifest["sha256"][name] == digest
    sft = read_records(tmp_path / "sft.jsonl", "sample").records
    assert all(s.completion == s.references[0] and s.completion.startswith(" ") for s in sft)
    assert all(s.prompt.endswith("\n\nTL;DR:") for s in sft)
    ids = {s.id for s in read_records(tmp_path / "rating_samples.jsonl", "sample").records}
    assert {j.sample_id for j in read_records(tmp_path / "ratings.jsonl", "judgement").records} == ids
    rankings = read_records(tmp_path / "rankings.jsonl", "ranking").records
    assert {len(r.completions) for r in rankings} == {4}


def test_train_and_eval_prompts_are_disjoint(test_lab):
    train = {e.prompt for e in test_lab.train}
    evals = {e.prompt for e in test_lab.eval}
    assert len(train) == len(test_lab.train) and len(evals) == len(test_lab.eval)
    assert not train & evals
    assert {p.prompt for p in test_lab.pairs} <= train
    assert {p.prompt for p in test_lab.pairs_eval} <= evals
    assert {s.prompt for s in test_lab.rating_samples} <= evals


def test_pairs_never_tie_on_gold(test_lab):
    assert all(p.meta["gold_chosen"] != p.meta["gold_rejected"] for p in test_lab.pairs)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_each_edit_moves_its_aspect(test_lab, name):
    import numpy as np

    direction = {"drop_key": ("gold_coverage", -1), "invent": ("gold_invented", -1),
                 "swap_value": ("gold_invented", -1), "add_distractor": ("gold_brevity", -1),
                 "pad_filler": ("gold_brevity", -1), "repeat": ("gold_brevity", -1),
                 "paraphrase": ("gold_coverage", 0), "reorder": ("gold", 0)}
    column, sign = direction[name]
    rng = np.random.default_rng(0)
    moved = []
    for ex in test_lab.train[:30]:
        sents = [f.render(0) for f in ex.key_facts]
        text = " " + " ".join(EDITS[name](rng, sents, ex))
        moved.append(np.sign(gold_reward(ex.prompt, text)[column]
                             - gold_reward(ex.prompt, ex.reference)[column]))
    if sign == 0:
        assert all(m == 0 for m in moved)
    else:
        # never the wrong way; almost always the right way (a short distractor fact can fit
        # in the word budget of a long reference)
        assert all(m in (0, sign) for m in moved) and moved.count(sign) >= 0.8 * len(moved)


def test_candidates_span_the_quality_range(test_lab):
    import numpy as np

    rng = np.random.default_rng(0)
    golds = [gold_reward(ex.prompt, c.text)["gold"] for ex in test_lab.train[:30]
             for c in candidates(rng, ex, 6)]
    assert min(golds) < -0.5 and max(golds) == 1.0 and np.std(golds) > 0.4
    assert perturb(np.random.default_rng(5), test_lab.train[0]).text.startswith(" ")


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown lab size"):
        lab_config("huge")
    with pytest.raises(ConfigError):
        lab_config("test", n_eval=0)
    with pytest.raises(ConfigError):
        lab_config("test", ranking_size=9)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rlhf_eval.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_the_lab_and_reports_agreement(tmp_path):
    res = _cli("lab", "--out", str(tmp_path / "lab"), "--size", "test", "--n-train", "60",
               "--n-eval", "10")
    assert res.returncode == 0, res.stderr
    assert "best reward model" in res.stdout and "careful" in res.stdout
    assert "against the gold reward" in res.stdout
    manifest = json.loads((tmp_path / "lab" / "lab.json").read_text())
    assert manifest["counts"]["sft.jsonl"] == 60 and manifest["config"]["n_eval"] == 10
    bad = _cli("lab", "--out", str(tmp_path / "x"), "--size", "huge")
    assert bad.returncode == 2 and "unknown lab size" in bad.stderr
