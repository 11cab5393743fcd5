"""ExperienceStream with the real TorchRL buffer: warm-up, replay ratio, batches."""

import pytest
from torchrl.data import ReplayBuffer

from lightning_dqn.agent import Agent
from lightning_dqn.envs.generic import make_vector_env
from lightning_dqn.networks import MLPQNetwork
from lightning_dqn.replay.transitions import make_replay_buffer
from lightning_dqn.stream import EvaluationEpisodes, ExperienceStream
from lightning_dqn.envs.generic import make_env


def make_stream(num_envs=1, frames_per_batch=1, replay_start_size=64, batch_size=8):
    env = make_vector_env("CartPole-v1", None, num_envs)
    buffer = make_replay_buffer(1000, batch_size)
    agent = Agent(env, buffer, seed=0)
    net = MLPQNetwork((4,), 2, [8])
    return ExperienceStream(agent, buffer, net, frames_per_batch, replay_start_size), agent, buffer


def test_buffer_is_torchrl():
    _, _, buffer = make_stream()
    assert isinstance(buffer, ReplayBuffer)


def test_warm_up_fills_the_buffer_then_each_batch_plays_frames_per_batch():
    stream, agent, buffer = make_stream(frames_per_batch=3, replay_start_size=64)
    batches = iter(stream)
    batch = next(batches)
    assert batch.batch_size == (8,)
    assert batch["observation"].shape == (8, 4) and batch["next", "observation"].shape == (8, 4)
    assert agent.frames == len(buffer) == 64 + 3
    for _ in range(10):
        next(batches)
    assert agent.frames == 64 + 3 * 11


@pytest.mark.parametrize("num_envs,frames_per_batch", [(4, 1), (3, 2)])
def test_replay_ratio_holds_with_more_envs_than_frames_per_batch(num_envs, frames_per_batch):
    stream, agent, _ = make_stream(num_envs=num_envs, frames_per_batch=frames_per_batch, replay_start_size=64)
    batches = iter(stream)
    next(batches)
    start = agent.frames
    for _ in range(60):
        next(batches)
    played = agent.frames - start
    # 60 batches owe 60 * frames_per_batch frames; one vector step can overshoot by num_envs - 1.
    assert abs(played - 60 * frames_per_batch) < num_envs


def test_evaluation_episodes_are_whole_and_leave_training_alone():
    _, agent, buffer = make_stream()
    frames_before, stored_before = agent.frames, len(buffer)
    episodes = list(EvaluationEpisodes(make_env("CartPole-v1"), MLPQNetwork((4,), 2, [8]), episodes=3, seed=1))
    assert len(episodes) == 3
    for ep in episodes:
        assert ep["return"].item() == ep["length"].item() >= 8  # CartPole pays 1 a step
    assert agent.frames == frames_before and len(buffer) == stored_before
