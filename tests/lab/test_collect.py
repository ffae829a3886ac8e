"""On-policy pairs: the lab's annotators compare a policy's own samples."""
import json

import numpy as np
import pytest

from rlhf_eval.cli import main
from rlhf_eval.errors import DataError
from rlhf_eval.io import read_records
from rlhf_eval.lab import DEFAULT_ANNOTATORS, annotator_gold_agreement, gold_reward
from rlhf_eval.lab.collect import annotate_samples


def _prompts_and_samples(test_lab, n=40):
    prompts = [ex.prompt for ex in test_lab.train[:n]]
    refs = [ex.reference for ex in test_lab.train[:n]]
    # a good, a padded, a truncated and a duplicate sample per prompt
    samples = [[r, r + " The weather was mild that week.", r[:len(r) // 2], r] for r in refs]
    return prompts, samples


def test_pairs_have_distinct_gold_and_the_lab_meta(test_lab):
    prompts, samples = _prompts_and_samples(test_lab)
    pairs = annotate_samples(prompts, samples, pairs_per_prompt=2, seed=3,
                             prompt_ids=[f"p{i}" for i in range(len(prompts))])
    assert 0 < len(pairs) <= 2 * len(prompts)
    for pair in pairs:
        assert pair.chosen != pair.rejected
        g_c = gold_reward(pair.prompt, pair.chosen)["gold"]
        g_r = gold_reward(pair.prompt, pair.rejected)["gold"]
        assert g_c != g_r
        assert (pair.meta["gold_chosen"], pair.meta["gold_rejected"]) == (g_c, g_r)
        assert pair.meta["source"] == "policy" and pair.annotator in {"careful", "typical", "hasty"}
    # the statistics of the lab work on them
    assert set(annotator_gold_agreement(pairs).index) >= {"all"}


def test_seeded_per_prompt(test_lab):
    prompts, samples = _prompts_and_samples(test_lab)
    a = annotate_samples(prompts, samples, seed=5)
    b = annotate_samples(prompts, samples, seed=5)
    assert a == b
    # a prompt's pairs do not depend on the other prompts labelled with it
    tail = annotate_samples(prompts[10:], samples[10:], seed=5)
    assert tail == [p for p in a if p.prompt in set(prompts[10:])]
    assert annotate_samples(prompts, samples, seed=6) != a


def test_identical_samples_give_no_pair(test_lab):
    prompts, samples = _prompts_and_samples(test_lab, n=3)
    assert annotate_samples(prompts, [[s[0]] * 4 for s in samples]) == []
    with pytest.raises(DataError):
        annotate_samples(prompts, samples[:2])


def test_cli_collects_on_policy_pairs(tiny_policy, tmp_path, capsys):
    out = tmp_path / "pairs_policy.jsonl"
    def collect(path, *extra):
        return main(["lab-collect", "--lab", str(tiny_policy.lab_dir), "--policy",
                     str(tiny_policy.policy_dir), "--out", str(path), "--n-prompts", "60",
                     "--samples-per-prompt", "4", "--pairs-per-prompt", "2",
                     "--max-new-tokens", "32", *extra])

    assert collect(out) == 0
    pairs = read_records(out, "pair").records
    assert 0 < len(pairs) <= 120
    assert "best reward model on these pairs" in capsys.readouterr().out
    # the labels follow the annotators' noise: agreement with gold well above chance
    agree = np.mean([p.meta["gold_chosen"] > p.meta["gold_rejected"] for p in pairs])
    assert agree > 0.6
    # batch size does not change the samples, so not the pairs
    out2 = tmp_path / "again.jsonl"
    assert collect(out2, "--batch-size", "7") == 0
    assert out.read_bytes() == out2.read_bytes()
    manifest = json.loads((tiny_policy.lab_dir / "lab.json").read_text())
    assert len(manifest["config"]["annotators"]) == len(DEFAULT_ANNOTATORS)
