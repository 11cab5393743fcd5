"""The TD math, checked against numbers worked out by hand."""

import pytest
import torch

from lightning_dqn.td import chosen_q, double_q_next_value, max_next_value, n_step_return, td_loss, td_target


def test_td_target_matches_hand_computation():
    reward = torch.tensor([1.0, 0.0, 2.0])
    terminated = torch.tensor([False, True, False])
    next_value = torch.tensor([10.0, 10.0, -1.0])
    # 1 + 0.9*10 = 10 ; terminated -> 0 + 0 ; 2 + 0.9*(-1) = 1.1
    assert torch.allclose(td_target(reward, terminated, next_value, 0.9), torch.tensor([10.0, 0.0, 1.1]))


def test_td_target_takes_a_per_sample_discount():
    reward = torch.tensor([1.0, 1.0])
    terminated = torch.tensor([0, 0], dtype=torch.uint8)
    next_value = torch.tensor([2.0, 2.0])
    discount = torch.tensor([0.5, 0.25])  # e.g. gamma**1 and gamma**2 with gamma 0.5
    assert torch.allclose(td_target(reward, terminated, next_value, discount), torch.tensor([2.0, 1.5]))


def test_terminal_transition_target_is_the_reward_alone():
    # The seed's L = [Q(s,a) - r]^2 when there is no next state.
    target = td_target(torch.tensor([0.7]), torch.tensor([True]), torch.tensor([123.0]), 0.99)
    assert target.item() == pytest.approx(0.7)


def test_chosen_q_and_max_next_value():
    q = torch.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 0.0]], requires_grad=True)
    assert chosen_q(q, torch.tensor([2, 0])).tolist() == [3.0, 4.0]
    best = max_next_value(q)
    assert best.tolist() == [5.0, 4.0]
    assert not best.requires_grad  # the target never carries gradients


def test_losses_by_hand():
    q_sa = torch.tensor([0.0, 3.0])
    target = torch.tensor([1.0, 0.0])
    assert td_loss(q_sa, target, "mse").item() == pytest.approx((1 + 9) / 2)
    # smooth L1 (delta 1): 0.5 * 1^2 = 0.5 for |e| = 1 ; |e| - 0.5 = 2.5 for |e| = 3
    assert td_loss(q_sa, target, "huber").item() == pytest.approx((0.5 + 2.5) / 2)
    with pytest.raises(ValueError, match="loss must be one of"):
        td_loss(q_sa, target, "l1")


def test_loss_gradient_flows_only_into_q_sa():
    q_sa = torch.tensor([1.0], requires_grad=True)
    target = torch.tensor([3.0], requires_grad=True)
    td_loss(q_sa, target).backward()
    assert q_sa.grad.item() == pytest.approx(2 * (1.0 - 3.0))
    assert target.grad is None


def test_double_q_lets_the_online_net_pick_and_the_target_net_value():
    online = torch.tensor([[1.0, 3.0], [5.0, 2.0]])
    target = torch.tensor([[7.0, 4.0], [6.0, 9.0]])
    assert double_q_next_value(online, target).tolist() == [4.0, 6.0]
    assert max_next_value(target).tolist() == [7.0, 9.0]


def test_n_step_return_by_hand():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [2.0, 4.0, 0.0], [5.0, 0.0, 0.0]])
    steps = torch.tensor([3, 2, 1])
    returns, discounts = n_step_return(rewards, steps, gamma=0.5)
    assert torch.allclose(returns, torch.tensor([1.75, 4.0, 5.0]))
    assert torch.allclose(discounts, torch.tensor([0.125, 0.25, 0.5]))
    # One step reduces to the one-step target's reward and gamma.
    one, gamma = n_step_return(torch.tensor([[3.0]]), torch.tensor([1]), gamma=0.9)
    assert one.item() == 3.0 and gamma.item() == pytest.approx(0.9)
