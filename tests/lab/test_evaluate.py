import pytest
from rouge_score import rouge_scorer

from rlhf_eval.errors import DataError
from rlhf_eval.lab import gold_rewards
from rlhf_eval.lab.evaluate import rouge_l, score_completions


def test_rouge_l_is_rouge_score_with_stemming(test_lab):
    refs = [e.reference for e in test_lab.eval[:10]]
    preds = [s.completion for s in test_lab.rating_samples[:10]]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    assert rouge_l(preds, refs) == [scorer.score(r, p)["rougeL"].fmeasure
                                    for p, r in zip(preds, refs)]
    assert rouge_l(refs, refs) == [1.0] * 10
    with pytest.raises(DataError):
        rouge_l(preds, refs[:3])


def test_score_completions_joins_gold_rouge_and_length(test_lab):
    ex = test_lab.eval[:5]
    comps = [e.reference for e in ex[:4]] + [""]
    df = score_completions(prompts=[e.prompt for e in ex], completions=comps,
                           references=[e.reference for e in ex])
    assert list(df.columns) == ["gold", "gold_coverage", "gold_invented", "gold_brevity",
                                "rougeL", "words"]
    assert df.gold.tolist()[:4] == [1.0] * 4 and df.rougeL.tolist() == [1.0] * 4 + [0.0]
    assert df.gold.tolist() == gold_rewards([e.prompt for e in ex], comps).gold.tolist()
