"""Building envs by id, one-hot states, and refusing what DQN cannot drive."""

import numpy as np
import pytest
import torch

from lightning_dqn.envs.generic import check_env_spaces, make_env, make_vector_env
from lightning_dqn.errors import ConfigError


def test_frozenlake_states_are_one_hot():
    env = make_env("FrozenLake-v1", {"is_slippery": False})
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (16,)
    assert obs.sum() == 1.0 and obs[0] == 1.0
    obs, *_ = env.step(2)  # RIGHT on the deterministic lake: state 0 -> 1
    assert obs.argmax() == 1


def probe_env(env_id, env_kwargs=None):
    """One env made (as the datamodule makes it), its spaces read and checked, then closed."""
    env = make_env(env_id, env_kwargs)
    try:
        return check_env_spaces(env, env_id)
    finally:
        env.close()


def test_env_kwargs_reach_gymnasium():
    assert probe_env("FrozenLake-v1", {"map_name": "8x8"}) == ((64,), 4)
    assert probe_env("CartPole-v1") == ((4,), 2)


def test_vector_env_steps_all_copies():
    env = make_vector_env("CartPole-v1", None, 3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 4)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "field", "text"),
    [
        ("NoSuchEnv-v0", None, "data.env_id", "cannot make 'NoSuchEnv-v0'"),
        ("Pendulum-v1", None, "data.env_id", "Box action space; DQN needs Discrete actions"),
        ("CartPole-v1", {"is_slippery": True}, "data.env_kwargs", "rejects"),
    ],
)
def test_bad_env_is_a_config_error(env_id, kwargs, field, text):
    with pytest.raises(ConfigError) as err:
        probe_env(env_id, kwargs)
    assert err.value.field == field
    assert str(err.value).startswith(field + ": ")
    assert text in str(err.value)


def test_video_recording_is_checked_before_training():
    import gymnasium as gym

    from lightning_dqn.envs.video import check_video_recording

    check_video_recording(lambda **render: gym.make("CartPole-v1", **render), "CartPole-v1")  # renders: fine
    with pytest.raises(ConfigError, match="data.record_video: 'CartPole-v1' renders no rgb_array frames"):
        check_video_recording(lambda **render: gym.make("CartPole-v1"), "CartPole-v1")  # render_mode ignored


@pytest.mark.parametrize("time_limit", [None, 12])
def test_cartpoles_own_vector_env_gives_the_agent_true_transitions(time_limit):
    # gymnasium's CartPoleVectorEnv (vectorization_mode vector_entry_point) through the real agent
    # and buffer: every stored transition follows CartPole's Euler step (x' = x + 0.02 x_dot), so
    # no reset observation is ever stored as the successor of a final one; episodes end both ways.
    from lightning_dqn.agent import Agent
    from lightning_dqn.replay.transitions import make_replay_buffer

    kwargs = None if time_limit is None else {"max_episode_steps": time_limit}
    env = make_vector_env("CartPole-v1", kwargs, 8, "vector_entry_point")
    assert type(env).__name__ == "CartPoleVectorEnv"
    buffer = make_replay_buffer(10_000, 32)
    agent = Agent(env, buffer, seed=0)
    agent.play(None, 3000)
    stored = buffer.storage.get(torch.arange(len(buffer)))
    x, x_dot, next_x = stored["observation"][:, 0], stored["observation"][:, 1], stored["next", "observation"][:, 0]
    assert len(buffer) == agent.frames >= 3000 and np.allclose(next_x, x + 0.02 * x_dot, atol=1e-5)
    ended = stored["next", "truncated"] if time_limit else stored["next", "terminated"]
    assert ended.sum() >= 100 and agent.episodes == int((stored["next", "terminated"] | stored["next", "truncated"]).sum())
    if time_limit:
        assert max(agent.recent_lengths) == time_limit


@pytest.mark.parametrize(
    "env_id, mode, atari, text",
    [("FrozenLake-v1", "vector_entry_point", False, "no vector entry point"),
     ("CartPole-v1", "async", False, "must be one of"),
     ("PongNoFrameskip-v4", "vector_entry_point", True, "must be sync for Atari")],
)
def test_vectorization_mode_is_checked(env_id, mode, atari, text):
    from lightning_dqn.envs.generic import check_vectorization_mode

    with pytest.raises(ConfigError, match=text) as err:
        check_vectorization_mode(env_id, mode, atari=atari)
    assert err.value.field == "data.vectorization_mode"


def test_atari_data_refuses_another_vectorization_mode():
    from lightning_dqn.datamodule import DQNDataModule

    with pytest.raises(ConfigError, match="must be sync for Atari") as err:
        DQNDataModule(env_id="PongNoFrameskip-v4", vectorization_mode="vector_entry_point")
    assert err.value.field == "data.vectorization_mode"
