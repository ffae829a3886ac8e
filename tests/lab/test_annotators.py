"""The simulated annotators agree with the gold reward at the rate their noise implies."""
import functools
import math

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import spearmanr

from rlhf_eval.errors import DataError
from rlhf_eval.lab import (DEFAULT_ANNOTATORS, Annotator, annotate_pair, annotate_ranking,
                           annotator_gold_agreement, expected_agreement, gold_reward,
                           generate_lab, lab_config, label_ceiling, rate_sample, rm_ceilings,
                           word_budget)
from rlhf_eval.schema import PreferencePair

BY_NAME = {a.name: a for a in DEFAULT_ANNOTATORS}


@functools.lru_cache(maxsize=None)
def _gold(prompt, text):
    return gold_reward(prompt, text)["gold"]


def _p_gold_better(pair, temperature_scale=1.0):
    """P(annotator picks the gold-better side), recomputed from the texts (not from meta)."""
    ann = BY_NAME[pair.annotator]
    budget = word_budget(pair.prompt)

    def util(text):
        return _gold(pair.prompt, text) + ann.length_bias * len(text.split()) / budget

    gc, gr = _gold(pair.prompt, pair.chosen), _gold(pair.prompt, pair.rejected)
    better, worse = (pair.chosen, pair.rejected) if gc > gr else (pair.rejected, pair.chosen)
    return expit((util(better) - util(worse)) / (ann.temperature * temperature_scale)), gc > gr


def _z(rows):
    p = np.array([r[0] for r in rows])
    agree = np.array([r[1] for r in rows], dtype=float)
    return (agree.mean() - p.mean()) / (math.sqrt((p * (1 - p)).sum()) / len(p))


@pytest.fixture(scope="module")
def recomputed(demo_lab):
    """(p_gold_better, chosen is gold-better) of every demo pair, from the texts alone."""
    rows = {name: [] for name in BY_NAME}
    for pair in demo_lab.pairs:
        rows[pair.annotator].append(_p_gold_better(pair))
    return rows


def test_empirical_agreement_matches_the_bt_rate_within_binomial_tolerance(demo_lab, recomputed):
    for name, r in recomputed.items():
        assert len(r) > 1000
        assert abs(_z(r)) < 3.5, name  # fixed seed: a deterministic check, |z| < 3.5
    # the test has power: the same labels are rejected under a miscalibrated noise model
    wrong = [_p_gold_better(p, temperature_scale=2.0) for p in demo_lab.pairs
             if p.annotator == "hasty"]
    assert abs(_z(wrong)) > 3.5


def test_library_agreement_table_matches_the_independent_computation(demo_lab, recomputed):
    table = annotator_gold_agreement(demo_lab.pairs)
    for name in BY_NAME:
        r = recomputed[name]
        assert table.loc[name, "n"] == len(r)
        assert table.loc[name, "expected"] == pytest.approx(np.mean([x[0] for x in r]))
        assert table.loc[name, "agree"] == pytest.approx(np.mean([x[1] for x in r]))
    # less noise, more agreement
    assert table.loc["careful", "agree"] > table.loc["typical", "agree"] > table.loc["hasty", "agree"]
    assert table.loc["all", "n"] == len(demo_lab.pairs)
    assert expected_agreement(demo_lab.pairs) == pytest.approx(table.loc["all", "expected"])


def test_label_ceiling_by_hand():
    def pair(p, gc, gr):
        return PreferencePair("x", "a", "b", annotator="A",
                              meta={"gold_chosen": gc, "gold_rejected": gr, "p_gold_better": p})

    pairs = [pair(0.9, 1.0, 0.0), pair(0.3, 0.0, 1.0), pair(0.5, 0.2, 0.2)]  # last: a gold tie
    assert label_ceiling(pairs) == pytest.approx((0.9 + 0.7) / 2)
    assert expected_agreement(pairs) == pytest.approx((0.9 + 0.3) / 2)
    with pytest.raises(DataError) as err:
        label_ceiling([PreferencePair("x", "a", "b")])
    assert err.value.location.field == "meta" and err.value.location.line == 1


def test_ceiling_bounds(demo_lab):
    ceiling, expected = label_ceiling(demo_lab.pairs), expected_agreement(demo_lab.pairs)
    assert expected <= ceiling < 1.0
    # the length bias makes the gold reward a non-optimal predictor of some labels
    assert ceiling - expected > 0.001


def test_pair_meta_records_gold_and_probability(test_lab):
    for pair in test_lab.pairs[:50]:
        assert pair.meta["gold_chosen"] == gold_reward(pair.prompt, pair.chosen)["gold"]
        assert pair.meta["gold_rejected"] == gold_reward(pair.prompt, pair.rejected)["gold"]
        assert pair.meta["p_gold_better"] == pytest.approx(_p_gold_better(pair)[0])


def test_annotator_probability_is_bradley_terry():
    ex_prompt = "Summarize the document.\n\nDocument: Mara owns a cat. A cat lives with Mara.\n\nTL;DR:"
    ann = Annotator("x", temperature=0.3, length_bias=0.4)
    a, b = " Mara owns a cat.", " Mara owns a cat. Mara owns a cat."
    ua = 1.0 + 0.4 * 4 / 5
    ub = (1.0 - 0.25 - 3 / 5) + 0.4 * 8 / 5  # repeat penalty + overflow (8 - 5) / 5
    assert ann.p_prefer(ex_prompt, a, b) == pytest.approx(expit((ua - ub) / 0.3))
    assert ann.p_prefer(ex_prompt, a, b) + ann.p_prefer(ex_prompt, b, a) == pytest.approx(1.0)
    with pytest.raises(DataError):
        annotate_pair(np.random.default_rng(0), ann, ex_prompt, a, " A cat lives with Mara.")
    with pytest.raises(DataError) as err:
        Annotator("bad", temperature=0.0)
    assert err.value.location.field == "temperature"


def test_plackett_luce_rankings_have_bradley_terry_pairwise_marginals(test_lab):
    # Luce's choice axiom: P(i ranked above j) = w_i / (w_i + w_j) whatever the other items
    ex = test_lab.train[0]
    texts = [ex.reference, ex.reference + " There is little else to report.",
             " " + ex.key_facts[0].render(0), ex.reference + ex.reference]
    ann = Annotator("x", temperature=0.4, length_bias=0.3)
    rng = np.random.default_rng(1)
    n = 2000
    above = np.zeros((4, 4))
    for _ in range(n):
        order = [texts.index(t) for t in annotate_ranking(rng, ann, ex.prompt, texts).completions]
        for pos, i in enumerate(order):
            for j in order[pos + 1:]:
                above[i, j] += 1
    for i in range(4):
        for j in range(i + 1, 4):
            p = ann.p_prefer(ex.prompt, texts[i], texts[j])
            assert abs(above[i, j] / n - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-9, (i, j)


def test_likert_ratings_follow_the_gold_aspects(test_lab):
    samples = {s.id: s for s in test_lab.rating_samples}
    by = {}
    for j in test_lab.ratings:
        assert j.score in {1.0, 2.0, 3.0, 4.0, 5.0}
        by.setdefault((j.annotator, j.aspect), []).append((j.score, j.meta["gold"]))
        assert j.sample_id in samples
    assert len(test_lab.ratings) == len(samples) * len(DEFAULT_ANNOTATORS) * 4
    for aspect in ("coverage", "overall"):
        careful = spearmanr(*zip(*by[("careful", aspect)]))[0]
        hasty = spearmanr(*zip(*by[("hasty", aspect)]))[0]
        assert careful > 0.7 and careful > hasty, aspect


def test_noiseless_rating_is_the_linear_map():
    prompt = "Summarize the document.\n\nDocument: Mara owns a cat. A cat lives with Mara.\n\nTL;DR:"
    ann = Annotator("exact", rating_noise=0.0)
    scores = {j.aspect: j.score for j in rate_sample(np.random.default_rng(0), ann, prompt,
                                                       " Mara owns a dog.", "s1")}
    # coverage 0 -> 1; one invented fact (-0.5) -> 3; brevity 0 -> 5; gold -0.5 -> 1 + 4 * 1.5/3 = 3
    assert scores == {"coverage": 1.0, "faithfulness": 3.0, "brevity": 5.0, "overall": 3.0}


def test_rm_ceilings_by_hand():
    """Two annotators: one without length bias, one that loves length. On a pair where the
    longer side is gold-worse, the mix decides; the ceilings follow from the two probabilities."""
    fair, lover = Annotator("fair", temperature=0.2), Annotator("lover", temperature=0.2,
                                                               length_bias=3.0)
    ex = generate_lab(lab_config("test", seed=1, n_train=4, n_eval=1)).train[0]
    best = ex.reference
    padded = best + " The weather was mild that week."      # gold-worse, longer
    assert gold_reward(ex.prompt, padded)["gold"] < gold_reward(ex.prompt, best)["gold"]
    pairs = [annotate_pair(np.random.default_rng(0), who, ex.prompt, best, padded)
             for who in (fair, lover)]
    p = {a.name: a.p_prefer(ex.prompt, best, padded) for a in (fair, lover)}
    q = (p["fair"] + p["lover"]) / 2
    got = rm_ceilings(pairs, (fair, lover))
    want_label = np.mean([v if q > 0.5 else 1 - v for v in p.values()])
    assert got["label"] == pytest.approx(want_label)
    assert got["gold"] == float(q > 0.5)
    assert got["n"] == 2
    # a model told the annotator does at least as well
    assert label_ceiling(pairs) >= got["label"] - 1e-12
    with pytest.raises(DataError) as err:
        rm_ceilings(pairs, (fair,))
    assert err.value.location.line == 2 and err.value.location.field == "annotator"


def test_rm_ceilings_on_the_demo_lab(demo_lab):
    best = rm_ceilings(demo_lab.pairs)
    # the mix agrees with gold on nearly every pair; not knowing the annotator costs a little
    assert 0.95 < best["gold"] <= 1.0
    assert expected_agreement(demo_lab.pairs) - 0.01 < best["label"] <= label_ceiling(demo_lab.pairs)
