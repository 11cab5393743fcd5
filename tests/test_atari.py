"""Atari preprocessing on real ALE games, both back ends, and the Nature CNN."""

import cv2
import gymnasium as gym
import numpy as np
import pytest
import torch

from lightning_dqn.envs.atari import BACKENDS, AtariOptions, make_atari_env, make_atari_vector_env
from lightning_dqn.networks import NatureCNN

NO_NOOPS = {"noop_max": 0}  # deterministic resets, so both back ends see the same emulator states


def play(backend, env_id, steps, **options):
    """Observations, rewards and flags of one env stepped with a fixed action sequence."""
    env = make_atari_vector_env(env_id, AtariOptions(backend=backend, **options), 1)
    obs, _ = env.reset(seed=0)
    actions = np.random.default_rng(0).integers(env.single_action_space.n, size=steps)
    record = {"obs": [obs[0]], "terminated": [], "truncated": [], "life_lost": []}
    for a in actions:
        obs, _, terminated, truncated, info = env.step(np.array([a]))
        record["obs"].append(obs[0])
        record["terminated"].append(bool(terminated[0]))
        record["truncated"].append(bool(truncated[0]))
        record["life_lost"].append(bool(info.get("life_lost", [False])[0]))
    env.close()
    return {k: np.array(v) for k, v in record.items()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_dtypes_ranges_and_stack_order(backend):
    run = play(backend, "PongNoFrameskip-v4", 60)
    obs = run["obs"]
    assert obs.shape == (61, 4, 84, 84) and obs.dtype == np.uint8
    assert obs.max() > 100  # real pixels, not scaled to [0, 1]
    assert not obs[0, :3].any() and obs[0, 3].any()  # a reset stack is zero-padded, newest frame last
    assert np.array_equal(obs[1:, :3], obs[:-1, 1:])  # each step drops the oldest frame, appends one


def test_both_back_ends_give_identical_observations():
    for env_id in ("PongNoFrameskip-v4", "BreakoutNoFrameskip-v4"):
        vector, wrappers = (play(b, env_id, 120, **NO_NOOPS) for b in BACKENDS)
        assert np.array_equal(vector["obs"], wrappers["obs"]), env_id
        assert np.array_equal(vector["life_lost"], wrappers["life_lost"]), env_id


def test_frames_are_max_pooled_over_the_last_two_of_each_skip():
    env = make_atari_env("PongNoFrameskip-v4", AtariOptions(noop_max=0, fire_reset=False))
    raw = gym.make("PongNoFrameskip-v4")
    env.reset(seed=0)
    raw.reset(seed=0)
    differs = 0
    for action in [2, 3, 2, 2, 3, 3, 0, 2] * 10:
        obs, *_ = env.step(action)
        screens = []
        for _ in range(4):
            raw.step(action)
            screens.append(raw.unwrapped.ale.getScreenGrayscale())
        pooled = cv2.resize(np.maximum(screens[-2], screens[-1]), (84, 84), interpolation=cv2.INTER_AREA)
        last_only = cv2.resize(screens[-1], (84, 84), interpolation=cv2.INTER_AREA)
        assert np.array_equal(obs[-1], pooled)
        differs += not np.array_equal(pooled, last_only)
    assert differs > 0  # the ball moves between the two frames: pooling is visible


def test_fire_reset_presses_fire_once_after_reset():
    for fire in (True, False):
        env = make_atari_env("BreakoutNoFrameskip-v4", AtariOptions(noop_max=0, fire_reset=fire))
        env.reset(seed=0)
        assert env.unwrapped.ale.getEpisodeFrameNumber() == int(fire)


@pytest.mark.parametrize("backend", BACKENDS)
def test_life_loss_ends_learning_episodes_only_and_the_game_goes_on(backend):
    run = play(backend, "BreakoutNoFrameskip-v4", 700, **NO_NOOPS)
    lost = np.flatnonzero(run["life_lost"])
    game_over = np.flatnonzero(run["terminated"])
    assert len(lost) >= 4 and len(game_over) >= 1  # 5 lives: 4 losses, then game over
    assert lost[3] < game_over[0]
    assert not (run["life_lost"] & run["terminated"]).any()
    after_loss = lost[0] + 1
    assert run["obs"][after_loss + 1, :3].any()  # no reset after a lost life: the stack goes on
    assert not run["obs"][game_over[0] + 2, :3].any()  # a reset after game over: zero padding


def test_evaluation_env_plays_whole_games():
    env = make_atari_env("BreakoutNoFrameskip-v4", AtariOptions(noop_max=0), training=False)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, lives_seen = 0, set()
    while True:
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        assert "life_lost" not in info
        lives_seen.add(info["lives"])
        steps += 1
        if terminated or truncated:
            break
    assert lives_seen >= {4, 3, 2, 1, 0} and steps > 100


@pytest.mark.parametrize("dueling", [False, True])
def test_nature_cnn_scales_bytes_itself(dueling):
    net = NatureCNN((4, 84, 84), 6, dueling=dueling)
    frames = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    q = net(frames)
    assert q.shape == (5, 6) and q.dtype == torch.float32
    assert torch.allclose(q, net(frames.float()), atol=1e-6)  # uint8 in, same as its float value
    assert sum(p.numel() for p in net.conv.parameters()) == 32 * 4 * 64 + 32 + 64 * 32 * 16 + 64 + 64 * 64 * 9 + 64
