"""The PPO tensor helpers against hand computations and independent formulas."""
import math

import numpy as np
import pytest
import torch

from rlhf_eval.training import ops


def test_masked_mean_and_var_match_numpy_on_the_kept_entries():
    x = torch.tensor([[1.0, 2.0, 100.0], [4.0, -50.0, 6.0]])
    m = torch.tensor([[1, 1, 0], [1, 0, 1]], dtype=torch.bool)
    kept = np.array([1.0, 2.0, 4.0, 6.0])
    assert ops.masked_mean(x, m).item() == pytest.approx(kept.mean())
    assert ops.masked_var(x, m).item() == pytest.approx(kept.var(ddof=1))
    assert ops.masked_var(x, m, unbiased=False).item() == pytest.approx(kept.var())
    assert ops.masked_mean(x, m, dim=1).tolist() == pytest.approx([1.5, 5.0])
    assert ops.masked_sum(x, m).item() == pytest.approx(13.0)


def test_masked_var_refuses_a_single_value():
    with pytest.raises(ValueError, match="at least 2"):
        ops.masked_var(torch.tensor([1.0, 2.0]), torch.tensor([True, False]))


def test_masked_whiten_gives_zero_mean_unit_variance_and_keeps_mean_when_asked():
    x = torch.tensor([[1.0, 2.0, 3.0, 999.0], [4.0, 5.0, 6.0, -999.0]])
    m = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    w = ops.masked_whiten(x, m)
    kept = w[m]
    assert kept.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert kept.var(unbiased=True).item() == pytest.approx(1.0, rel=1e-5)
    expected = (np.arange(1, 7) - 3.5) / np.std(np.arange(1, 7), ddof=1)
    assert kept.numpy() == pytest.approx(expected, rel=1e-5)
    w2 = ops.masked_whiten(x, m, shift_mean=False)
    assert w2[m].numpy() == pytest.approx(expected + 3.5, rel=1e-5)


def test_first_true_indices_returns_row_length_when_none():
    b = torch.tensor([[False, True, True], [False, False, False], [True, False, False]])
    assert ops.first_true_indices(b).tolist() == [1, 3, 0]


def test_truncate_after_eos_keeps_first_eos_and_pads_the_rest():
    eos, pad = 2, 0
    r = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [2, 9, 9, 9]])
    out = ops.truncate_after_eos(r, eos, pad)
    assert out.tolist() == [[5, 2, 0, 0], [5, 6, 7, 8], [2, 0, 0, 0]]
    assert ops.response_lengths(out, pad).tolist() == [2, 4, 1]


def test_logprobs_and_entropy_match_a_hand_computation():
    logits = torch.tensor([[[0.0, math.log(3.0)], [2.0, 2.0]]])  # probs (1/4, 3/4), (1/2, 1/2)
    labels = torch.tensor([[1, 0]])
    assert ops.logprobs_from_logits(logits, labels)[0].tolist() == pytest.approx(
        [math.log(0.75), math.log(0.5)])
    h1 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert ops.entropy_from_logits(logits)[0].tolist() == pytest.approx([h1, math.log(2)])


def test_kl_estimators_are_unbiased_on_samples_and_k3_is_nonnegative():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    true_kl = float((p * (p / q).log()).sum())
    g = torch.Generator().manual_seed(0)
    idx = torch.multinomial(p, 200_000, replacement=True, generator=g)
    logp, logq = p.log()[idx], q.log()[idx]
    assert ops.kl_k1(logp, logq).mean().item() == pytest.approx(true_kl, abs=5e-3)
    k3 = ops.kl_k3(logp, logq)
    assert k3.mean().item() == pytest.approx(true_kl, abs=5e-3)
    assert (k3 >= 0).all()
    # hand value of one sample: r = q/p = 0.4/0.7
    r = 0.4 / 0.7
    assert ops.kl_k3(torch.tensor(math.log(0.7)), torch.tensor(math.log(0.4))).item() == \
        pytest.approx(r - 1 - math.log(r))


def test_per_token_rewards_put_the_score_on_the_last_real_token():
    kl = torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    rewards, non_score = ops.per_token_rewards(torch.tensor([1.0, -2.0]), kl, 0.5,
                                               torch.tensor([2, 3]), mask)
    assert torch.allclose(non_score, torch.tensor([[-0.05, -0.1, 0.0], [-0.25, -0.25, -0.25]]))
    assert torch.allclose(rewards, torch.tensor([[-0.05, 0.9, 0.0], [-0.25, -0.25, -2.25]]))


def _gae_reference(rewards, values, length, gamma, lam):
    """Textbook per-episode GAE in plain python, the episode ending after ``length`` steps."""
    adv = [0.0] * length
    last = 0.0
    for t in reversed(range(length)):
        nv = values[t + 1] if t + 1 < length else 0.0
        delta = rewards[t] + gamma * nv - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv


def test_gae_matches_the_textbook_recursion_and_ignores_padding():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 7.0], [0.5, -1.0, 0.2, 0.3]])
    values = torch.tensor([[0.1, 0.2, 0.3, 9.0], [0.4, 0.3, 0.2, 0.1]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    adv, ret = ops.gae(rewards, values, mask, gamma=0.9, lam=0.8)
    for b, length in enumerate([3, 4]):
        ref = _gae_reference(rewards[b].tolist(), values[b].tolist(), length, 0.9, 0.8)
        assert adv[b, :length].tolist() == pytest.approx(ref)
        assert ret[b, :length].tolist() == pytest.approx(
            [a + v for a, v in zip(ref, values[b, :length].tolist())])
    assert adv[0, 3].item() == 0 and ret[0, 3].item() == 0
    # gamma = lam = 1: advantage = sum of future rewards - value
    adv1, _ = ops.gae(rewards, values, mask, 1.0, 1.0)
    assert adv1[0].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.0])


def test_clipped_policy_loss_hand_values():
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    adv = torch.tensor([[1.0, 1.0, -1.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    loss, stats = ops.clipped_policy_loss(new, old, adv, mask, cliprange=0.2)
    # token 0: ratio 1.5 clipped to 1.2 -> -1.2 (clip active); token 1: ratio 0.5 -> -0.5
    # (min of -0.5 and -0.8 is the unclipped); token 2: ratio 1.1, adv -1 -> 1.1
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.1) / 3)
    assert stats["clipfrac"].item() == pytest.approx(1 / 3)
    assert stats["ratio"].item() == pytest.approx((1.5 + 0.5 + 1.1) / 3)
    lr = new[0]
    assert stats["approxkl"].item() == pytest.approx(0.5 * float((lr ** 2).mean()))


def test_clipped_value_loss_hand_values():
    old = torch.tensor([[0.0, 0.0]])
    vpred = torch.tensor([[1.0, 0.1]])
    ret = torch.tensor([[1.0, 1.0]])
    loss, clipfrac = ops.clipped_value_loss(vpred, old, ret, torch.ones(1, 2, dtype=torch.bool),
                                            cliprange_value=0.2)
    # token 0: unclipped 0, clipped (0.2 - 1)^2 = 0.64 -> 0.64; token 1: 0.81 both
    assert loss.item() == pytest.approx(0.5 * (0.64 + 0.81) / 2)
    assert clipfrac.item() == pytest.approx(0.5)


def test_adaptive_kl_controller_follows_ziegler_update():
    c = ops.AdaptiveKLController(value=0.1, target=6.0, horizon=10000)
    c.update(current_kl=12.0, n_steps=100)  # error clipped to +0.2
    assert c.value == pytest.approx(0.1 * (1 + 0.2 * 100 / 10000))
    c.update(current_kl=5.4, n_steps=100)  # error -0.1
    assert c.value == pytest.approx(0.1 * 1.002 * (1 - 0.1 * 100 / 10000))
    assert ops.FixedKLController(0.05).update(100.0, 10) == 0.05


def test_value_clipfrac_counts_only_values_that_were_clipped():
    """Unclipped values must not count as clipped through rounding (old + (v - old) != v)."""
    g = torch.Generator().manual_seed(0)
    old = torch.randn(64, 32, generator=g) * 3
    vpred = old + (torch.rand(64, 32, generator=g) - 0.5) * 0.3  # all within +-0.15 < 0.2
    ret = torch.randn(64, 32, generator=g)
    _, clipfrac = ops.clipped_value_loss(vpred, old, ret, torch.ones(64, 32, dtype=torch.bool),
                                         cliprange_value=0.2)
    assert clipfrac.item() == 0.0
