"""The agent on real gymnasium envs and a real TorchRL buffer: what gets stored, and what not."""

import numpy as np
import pytest
import torch
from torch import nn

from lightning_dqn.agent import Agent
from lightning_dqn.envs.generic import make_vector_env
from lightning_dqn.replay.transitions import make_replay_buffer

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
TERMINAL_STATES = {5, 7, 11, 12, 15}  # holes and goal of the 4x4 map


class AlwaysAction(nn.Module):
    """A real Q-network whose argmax is always ``action``."""

    def __init__(self, action: int, obs_dim: int = 16, n_actions: int = 4):
        super().__init__()
        self.linear = nn.Linear(obs_dim, n_actions)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.copy_(torch.nn.functional.one_hot(torch.tensor(action), n_actions).float())

    def forward(self, obs):
        return self.linear(obs.float())


def make_agent(num_envs=1, env_kwargs=None, capacity=1000):
    env = make_vector_env("FrozenLake-v1", {"is_slippery": False, **(env_kwargs or {})}, num_envs)
    buffer = make_replay_buffer(capacity, batch_size=4)
    return Agent(env, buffer, seed=0), buffer


def states(one_hots: torch.Tensor) -> list[int]:
    return one_hots.argmax(dim=-1).tolist()


def test_terminated_transition_is_stored_and_autoreset_step_is_not():
    agent, _ = make_agent()
    stored = [agent.step(AlwaysAction(DOWN), epsilon=0.0) for _ in range(8)]
    # DOWN: 0 -> 4 -> 8 -> 12 (a hole: terminated); the next step only resets the env.
    assert [t is None for t in stored] == [False, False, False, True] * 2
    assert stored[2]["next", "terminated"].tolist() == [True]
    assert agent.frames == 6 and agent.episodes == 2
    assert list(agent.recent_returns) == [0.0, 0.0] and list(agent.recent_lengths) == [3, 3]


def test_play_writes_true_final_observation_and_flags():
    agent, buffer = make_agent()
    assert agent.play(AlwaysAction(DOWN), 6, epsilon=0.0) == 6
    data = buffer[:]
    assert states(data["observation"]) == [0, 4, 8, 0, 4, 8]  # never the hole 12 as a start state
    assert states(data["next", "observation"]) == [4, 8, 12, 4, 8, 12]
    assert data["next", "terminated"].tolist() == [False, False, True] * 2
    assert not data["next", "truncated"].any()


def test_truncated_episode_bootstraps_from_its_true_last_observation():
    agent, buffer = make_agent(env_kwargs={"max_episode_steps": 2})
    agent.play(AlwaysAction(RIGHT), 4, epsilon=0.0)
    data = buffer[:]
    # RIGHT: 0 -> 1 -> 2, cut by the time limit; the reset state 0 must not replace state 2.
    assert states(data["observation"]) == [0, 1, 0, 1]
    assert states(data["next", "observation"]) == [1, 2, 1, 2]
    assert data["next", "truncated"].tolist() == [False, True, False, True]
    assert not data["next", "terminated"].any()  # so the TD target bootstraps from V(state 2)


@pytest.mark.parametrize("num_envs", [1, 4])
def test_random_play_never_stores_a_step_out_of_a_terminal_state(num_envs):
    agent, buffer = make_agent(num_envs=num_envs, capacity=5000)
    played = agent.play(None, 3000, epsilon=1.0)
    assert played >= 3000 and agent.frames == played == len(buffer)
    data = buffer[:]
    starts = set(states(data["observation"]))
    ends = np.array(states(data["next", "observation"]))
    assert starts.isdisjoint(TERMINAL_STATES)
    terminated = data["next", "terminated"].numpy()
    assert (terminated == np.isin(ends, list(TERMINAL_STATES))).all()
    # Each finished episode is one terminated transition; returns count the goals reached.
    assert agent.episodes == terminated.sum()
    rewards = data["next", "reward"].numpy()
    assert rewards.sum() == (ends == 15).sum()  # reward 1 exactly on reaching the goal
    # FrozenLake pays only at the end, so each episode's return is its last reward, in order.
    assert list(agent.recent_returns) == rewards[terminated][-100:].tolist()


def test_epsilon_greedy_mixes_random_and_greedy_actions():
    agent, buffer = make_agent(num_envs=8)
    net = AlwaysAction(UP)
    actions = np.concatenate([agent.act(net, 0.5) for _ in range(200)])
    share_up = (actions == UP).mean()
    assert 0.55 < share_up < 0.70  # 0.5 greedy + 0.5 * 1/4 random
    assert (agent.act(net, 0.0) == UP).all()
