import math

import pandas as pd
import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.lab import gold_reward, gold_rewards, word_budget
from rlhf_eval.lab.grammar import format_prompt

# key facts: Mara/pet/cat and Leo/hobby/golf (stated twice); distractor: Leo/city/Oslo
DOC = ("Mara keeps a cat as a pet. Leo enjoys golf. Leo lives in Oslo. "
       "The weather was mild that week. A cat lives with Mara. Leo spends weekends on golf.")
PROMPT = format_prompt(DOC)
REF = " Mara owns a cat. Leo enjoys golf."  # 7 words -> budget ceil(8.75) = 9


def g(completion):
    return gold_reward(PROMPT, completion)


def test_reference_scores_one_and_aspects_sum_to_total():
    assert word_budget(PROMPT) == 9
    assert g(REF) == {"gold": 1.0, "gold_coverage": 1.0, "gold_invented": 0.0,
                      "gold_brevity": 0.0}
    # order does not matter; paraphrases cover the facts too but cost their extra words
    assert g(" Leo enjoys golf. Mara owns a cat.")["gold"] == 1.0
    para = g(" Leo spends weekends on golf. A cat lives with Mara.")  # 10 words, budget 9
    assert para["gold_coverage"] == 1.0 and para["gold_brevity"] == pytest.approx(-1 / 9)


def test_generated_references_score_one(test_lab):
    df = gold_rewards([e.prompt for e in test_lab.eval], [e.reference for e in test_lab.eval])
    assert (df.gold == 1.0).all()


def test_coverage_counts_key_facts_only():
    assert g(" Mara owns a cat.")["gold_coverage"] == 0.5
    # the distractor is in the document (not invented) but is not key; 11 words > budget 9
    out = g(" Mara owns a cat. Leo lives in Oslo.")
    assert (out["gold_coverage"], out["gold_invented"]) == (0.5, 0.0)
    assert g("")["gold"] == 0.0


def test_invented_facts_cost_half_each_clipped_at_one():
    assert g(" Mara owns a dog. Leo enjoys golf.")["gold_invented"] == -0.5
    three = " Mara owns a dog. Leo enjoys chess. Ada lives in Lima."
    assert g(three)["gold_invented"] == -1.0


def test_brevity_by_hand():
    # 7 + 6 words = 13 > 9: overflow 4/9; the filler sentence is 6/13 of the words
    out = g(REF + " Nobody could recall the exact date.")
    words = 7 + 6
    expected = (words - 9) / 9 + 0.5 * 6 / words
    assert out["gold_brevity"] == pytest.approx(-expected)
    # a repeated sentence (exact copy): 0.25, plus overflow (10 words - 9) / 9
    out = g(" Mara owns a cat. Leo enjoys golf. Leo enjoys golf.")
    assert out["gold_brevity"] == pytest.approx(-(0.25 + 1 / 9))
    # a fact restated in other words counts as a repeat too
    out = g(" Mara owns a cat. A cat lives with Mara.")  # 9 words: within the budget
    assert out["gold_brevity"] == -0.25
    assert g(REF * 5)["gold_brevity"] == -1.0


def test_gibberish_is_penalised_for_fluency():
    out = g(" cat cat golf the the")
    assert out["gold_coverage"] == 0.0 and out["gold_brevity"] == -0.5


def test_vectorised_equals_scalar(test_lab):
    samples = test_lab.rating_samples
    df = gold_rewards([s.prompt for s in samples], [s.completion for s in samples])
    expected = pd.DataFrame([gold_reward(s.prompt, s.completion) for s in samples])
    pd.testing.assert_frame_equal(df, expected[df.columns])
    assert list(df.columns) == ["gold", "gold_coverage", "gold_invented", "gold_brevity"]
    assert (df.gold - df[["gold_coverage", "gold_invented", "gold_brevity"]].sum(axis=1)).abs().max() < 1e-12
    assert df.gold.std() > 0.3  # candidates span the quality range


def test_bad_input_names_the_record_and_field():
    with pytest.raises(DataError) as err:
        gold_rewards([PROMPT, "hello"], [REF, REF])
    assert err.value.location.line == 2 and err.value.location.field == "prompt"
    with pytest.raises(DataError, match="as many"):
        gold_rewards([PROMPT], [REF, REF])
    with pytest.raises(DataError) as err:
        gold_reward(PROMPT, None)
    assert err.value.location.field == "completion"
    assert math.isfinite(g("...")["gold"])
