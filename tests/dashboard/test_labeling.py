"""Labeling logic: seeded order, winner mapping, queue, agreement and human win-rates."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from rlhf_eval.dashboard import labeling as L


def _item(k=0):
    return L.LabelItem(run="r", sample_id=f"s{k}", prompt="p", gen_a=f"a{k}", gen_b=f"b{k}",
                       completion_a="A", completion_b="B", checkpoint_a="base",
                       checkpoint_b="ck")


def test_order_is_stable_per_annotator_and_item_and_balanced():
    flips = [L.is_swapped("ann", f"item{k}") for k in range(400)]
    assert flips == [L.is_swapped("ann", f"item{k}") for k in range(400)]  # deterministic
    assert 0.4 < np.mean(flips) < 0.6  # a fair coin across items
    other = [L.is_swapped("bob", f"item{k}") for k in range(400)]
    assert flips != other  # seeded per annotator
    assert [L.is_swapped("ann", f"item{k}", seed=1) for k in range(400)] != flips


@pytest.mark.parametrize("left_is_a", [True, False])
def test_canonical_winner_maps_screen_sides_to_stored_sides(left_is_a):
    item = _item()
    left = item.gen_a if left_is_a else item.gen_b
    assert L.canonical_winner("left", item, left) == ("a" if left_is_a else "b")
    assert L.canonical_winner("right", item, left) == ("b" if left_is_a else "a")
    assert L.canonical_winner("tie", item, left) == "tie"
    with pytest.raises(ValueError):
        L.canonical_winner("a", item, left)


def test_shown_order_follows_is_swapped():
    item = _item()
    left, right = L.shown_order(item, "ann")
    assert {left, right} == {item.gen_a, item.gen_b}
    assert (left == item.gen_b) == L.is_swapped("ann", item.key)


def _labels(rows):
    return pd.DataFrame([{"id": i, "run": "r", "sample_id": a, "gen_a": a, "gen_b": b,
                          "winner": w, "annotator": ann, "note": None, "shown_left": a,
                          "created_at": f"2026-01-01T00:00:{i:02d}"}
                         for i, (a, b, w, ann) in enumerate(rows)])


def test_next_item_skips_what_this_annotator_labeled():
    items = [_item(k) for k in range(3)]
    labels = _labels([("a0", "b0", "a", "ann"), ("a1", "b1", "b", "bob")])
    assert L.next_item(items, labels, "ann").sample_id == "s1"
    assert L.next_item(items, labels, "bob").sample_id == "s0"
    done = _labels([(f"a{k}", f"b{k}", "a", "ann") for k in range(3)])
    assert L.next_item(items, done, "ann") is None
    reversed_ = _labels([(f"b{k}", f"a{k}", "a", "ann") for k in range(2)])  # other order
    assert L.next_item(items, reversed_, "ann").sample_id == "s2"


def test_agreement_matches_sklearn_and_hand_count():
    ann1 = ["a", "b", "tie", "a", "a", "b"]
    ann2 = ["a", "b", "a", "a", "b", "b"]
    rows = [(f"a{k}", f"b{k}", w, "x") for k, w in enumerate(ann1)]
    rows += [(f"a{k}", f"b{k}", w, "y") for k, w in enumerate(ann2)]
    out = L.agreement(_labels(rows))
    assert out["n_items"] == 6 and out["n_annotators"] == 2
    assert out["percent"] == pytest.approx(4 / 6)
    assert out["kappa"] == pytest.approx(cohen_kappa_score(ann1, ann2))
    assert -1 <= out["alpha"] <= 1


def test_agreement_orients_pairs_and_keeps_latest_label():
    # x says a for (a0, b0); y labels the same pair shown the other way round and picks b0 ->
    # stored as winner "a" of (b0, a0): that is a disagreement; y's re-label replaces it
    rows = [("a0", "b0", "a", "x"), ("b0", "a0", "a", "y"), ("b0", "a0", "b", "y")]
    out = L.agreement(_labels(rows))
    assert out["n_items"] == 1 and out["percent"] == 1.0


def test_human_winrates_count_ties_half():
    gens = pd.DataFrame({"gen_id": [f"a{k}" for k in range(4)] + [f"b{k}" for k in range(4)],
                         "checkpoint": ["base"] * 4 + ["ck"] * 4, "run": "r"})
    rows = [("a0", "b0", "b", "x"), ("a1", "b1", "b", "x"), ("a2", "b2", "tie", "x"),
            ("a3", "b3", "a", "x")]
    wr = L.human_winrates(_labels(rows), gens, n_resamples=200)
    ck = wr[(wr["checkpoint"] == "ck") & (wr["baseline"] == "base")].iloc[0]
    assert (ck["wins"], ck["ties"], ck["losses"], ck["n"]) == (2, 1, 1, 4)
    assert ck["winrate"] == pytest.approx(2.5 / 4)
    assert ck["ci_low"] <= ck["winrate"] <= ck["ci_high"]
    base = wr[(wr["checkpoint"] == "base")].iloc[0]
    assert base["winrate"] == pytest.approx(1.5 / 4)
    assert len(wr) == 2  # one row per orientation, no duplicates
    # the same comparison stored the other way round counts for the same checkpoints
    flipped = _labels([(b, a, {"a": "b", "b": "a", "tie": "tie"}[w], n) for a, b, w, n in rows])
    again = L.human_winrates(flipped, gens, n_resamples=200)
    assert len(again) == 2 and again.set_index("checkpoint").loc["ck", "winrate"] == \
        pytest.approx(2.5 / 4)


def test_label_items_pair_generations_by_prompt():
    gens = pd.DataFrame({"run": "r", "checkpoint": ["base", "ck", "base", "ck", "ck"],
                         "sample_id": ["s1", "s1", "s2", "s2", "s3"],
                         "gen_id": ["g1", "g2", "g3", "g4", "g5"], "prompt": "p",
                         "completion": ["x1", "y1", "x2", "y2", "y3"]})
    items = L.label_items(gens, run="r", checkpoint_a="base", checkpoint_b="ck")
    assert [(i.sample_id, i.gen_a, i.gen_b) for i in items] == [("s1", "g1", "g2"),
                                                                ("s2", "g3", "g4")]
