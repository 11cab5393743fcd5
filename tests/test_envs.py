"""Building envs by id, one-hot states, and refusing what DQN cannot drive."""

import numpy as np
import pytest

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
