"""Bradley-Terry loss and per-batch metrics against hand computations."""
import math

import numpy as np
import pytest
import torch

from rlhf_eval.training.reward import bradley_terry_loss, pair_metrics


def _hand(rc, rr, m=None, coef=0.0):
    terms = []
    for i, (c, r) in enumerate(zip(rc, rr)):
        d = c - r - (m[i] if m is not None else 0.0)
        terms.append(math.log(1 + math.exp(-d)))
    loss = sum(terms) / len(terms)
    return loss + coef * sum((c + r) ** 2 for c, r in zip(rc, rr)) / len(rc)


@pytest.mark.parametrize("margin,coef", [(None, 0.0), ([0.5, -1.0, 2.0], 0.0),
                                         (None, 0.01), ([1.0, 0.0, 0.25], 0.1)])
def test_bt_loss_matches_hand_computation(margin, coef):
    rc, rr = [1.5, -0.2, 0.3], [0.5, 0.7, -2.0]
    got = bradley_terry_loss(torch.tensor(rc), torch.tensor(rr),
                             None if margin is None else torch.tensor(margin), coef)
    assert got.item() == pytest.approx(_hand(rc, rr, margin, coef), rel=1e-6)


def test_bt_loss_is_finite_for_huge_gaps_and_gradient_sign():
    rc = torch.tensor([-200.0, 200.0], requires_grad=True)
    rr = torch.tensor([200.0, -200.0], requires_grad=True)
    loss = bradley_terry_loss(rc, rr)
    assert loss.item() == pytest.approx(200.0, rel=1e-6)  # (400 + 0) / 2
    loss.backward()
    assert rc.grad[0] < 0 < rr.grad[0]  # descent raises the chosen reward


def test_pair_metrics_counts_ties_as_wrong():
    m = pair_metrics(np.array([1.0, 2.0, 0.0, 3.0]), np.array([0.0, 2.0, 1.0, 1.0]))
    assert m["accuracy"] == 0.5
    assert m["margin"] == pytest.approx(np.mean([1.0, 0.0, -1.0, 2.0]))
    both = np.array([1.0, 2.0, 0.0, 3.0, 0.0, 2.0, 1.0, 1.0])
    assert m["reward_mean"] == pytest.approx(both.mean())
    assert m["reward_std"] == pytest.approx(both.std())
