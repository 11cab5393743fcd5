"""The frame-once replay: every sampled transition equals what the env really returned.

Ground truth is the agent's own record of each step (``AgentStep``), kept by a writer that also
remembers them; the buffer only ever sees rows. Sampling goes through the real TorchRL buffer.
"""

import math

import numpy as np
import pytest
import torch

from lightning_dqn.agent import Agent
from lightning_dqn.envs.atari import AtariOptions, make_atari_vector_env
from lightning_dqn.envs.generic import make_vector_env
from tensordict import TensorDict
from torchrl.data import LazyMemmapStorage, LazyTensorStorage, ReplayBuffer

from lightning_dqn.replay.frames import (
    FrameWriter,
    WindowMemmapStorage,
    WindowTensorStorage,
    bytes_per_row,
    make_frame_replay,
    stored_rows,
)


class RecordingWriter(FrameWriter):
    def __init__(self, buffer, stacked):
        super().__init__(buffer, stacked)
        self.steps = []

    def write(self, steps):
        self.steps.extend(steps)
        super().write(steps)


def fill(env, capacity, n_step, stacked, frames, stack=1):
    buffer = make_frame_replay(capacity, 64, env.num_envs, stack, n_step, stacked=stacked)
    writer = RecordingWriter(buffer, stacked)
    agent = Agent(env, buffer, seed=0, writer=writer)
    for _ in range(frames // 50):
        agent.play(None, 50)
    return buffer, writer.steps


def sample_with_row_ids(buffer, batch_size):
    """What ``buffer.sample`` does, keeping each sample's start row id to find its ground truth."""
    windows, _ = buffer.sampler.sample(buffer.storage, batch_size)
    rows = buffer.storage.get(windows)
    start = buffer.sampler.stack - 1
    return buffer._transform(rows), rows["row_id"][:, start]


def expected(steps, num_envs, row_id, n_step):
    s, e = divmod(int(row_id), num_envs)
    rewards, m = [], 0
    for j in range(n_step):
        step = steps[s + j]
        rewards.append(float(step.reward[e]))
        m = j + 1
        if step.terminated[e] or step.truncated[e]:
            break
    last = steps[s + m - 1]
    return steps[s].obs[e], steps[s].action[e], rewards, last.next_obs[e], bool(last.terminated[e]), m


def check_batch(batch, row_ids, steps, num_envs, n_step):
    for i, row_id in enumerate(row_ids):
        obs, action, rewards, next_obs, terminated, m = expected(steps, num_envs, row_id, n_step)
        assert np.array_equal(batch["observation"][i].numpy(), obs)
        assert int(batch["action"][i]) == int(action)
        assert np.array_equal(batch["next", "observation"][i].numpy(), next_obs)
        assert bool(batch["next", "terminated"][i]) == terminated
        reward = batch["next", "reward"][i]
        if n_step == 1:
            assert float(reward) == rewards[0]
        else:
            assert int(batch["next", "steps"][i]) == m
            assert reward.tolist() == rewards + [0.0] * (n_step - m)


@pytest.mark.parametrize("n_step", [1, 3])
def test_cartpole_transitions_rebuilt_exactly_and_every_one_reachable(n_step):
    env = make_vector_env("CartPole-v1", None, 3)
    buffer, steps = fill(env, capacity=6000, n_step=n_step, stacked=False, frames=1500)
    batch, row_ids = sample_with_row_ids(buffer, 4000)
    check_batch(batch, row_ids, steps, 3, n_step)
    # Reachable: every real step whose next m observations are written, and nothing else.
    reachable = set()
    for s, step in enumerate(steps):
        for e in np.flatnonzero(step.real):
            m = expected(steps, 3, s * 3 + e, n_step)[-1] if s + n_step <= len(steps) else None
            if m is not None and s + m < len(steps):
                reachable.add(s * 3 + int(e))
    assert set(row_ids.tolist()) <= reachable
    assert len(set(row_ids.tolist())) > 0.6 * len(reachable)  # 4000 draws over about 1,400 rows


def test_overwritten_rows_are_never_sampled():
    env = make_vector_env("CartPole-v1", None, 2)
    buffer, steps = fill(env, capacity=301, n_step=3, stacked=False, frames=2000)  # wrapped about 6 times
    batch, row_ids = sample_with_row_ids(buffer, 2000)
    newest = len(steps) * 2
    assert int(row_ids.min()) >= newest - 301
    check_batch(batch, row_ids, steps, 2, 3)


@pytest.mark.parametrize("n_step", [1, 3])
def test_atari_stacks_rebuilt_from_single_frames(n_step):
    # 200 emulator frames per game: 50 agent steps, so many episode starts (zero padding) and truncations.
    env = make_atari_vector_env(
        "PongNoFrameskip-v4", AtariOptions(), 2, env_kwargs={"max_num_frames_per_episode": 200}
    )
    buffer, steps = fill(env, capacity=2000, n_step=n_step, stacked=True, frames=600, stack=4)
    batch, row_ids = sample_with_row_ids(buffer, 500)
    assert batch["observation"].shape == (500, 4, 84, 84) and batch["observation"].dtype == torch.uint8
    check_batch(batch, row_ids, steps, 2, n_step)
    assert batch["next", "truncated"].any()


def test_a_row_costs_one_frame_not_two_stacks():
    env = make_atari_vector_env("PongNoFrameskip-v4", AtariOptions(), 2)
    buffer, _ = fill(env, capacity=500, n_step=3, stacked=True, frames=600, stack=4)
    per_row = bytes_per_row(buffer)
    assert per_row == sum(t.nbytes for t in stored_rows(buffer.storage).values(True, True)) / 500
    assert 84 * 84 <= per_row < 84 * 84 + 64
    assert per_row * 1_000_000 < 8e9  # a 1M-row Pong buffer fits in under 8 GB
    two_stacks = 2 * math.prod(buffer.sample()["observation"].shape[1:])  # a transition layout's obs + next obs
    assert two_stacks / per_row > 7.9


def test_memmap_storage_keeps_rows_on_disk(tmp_path):
    env = make_vector_env("CartPole-v1", None, 2)
    buffer = make_frame_replay(1000, 32, 2, 1, 1, stacked=False, memmap_dir=tmp_path)
    agent = Agent(env, buffer, seed=0, writer=FrameWriter(buffer, stacked=False))
    agent.play(None, 200)
    # One row per env step: the 200 transitions plus one last-observation row per finished episode.
    assert 200 < len(buffer) <= 200 + agent.episodes and buffer.sample()["observation"].shape == (32, 4)
    assert sum(f.stat().st_size for f in tmp_path.rglob("*.memmap")) >= 1000 * 4 * 4


@pytest.mark.parametrize("memmap", [False, True])
def test_window_storages_gather_exactly_what_torchrl_storages_gather(memmap, tmp_path):
    # Filled part only (60 of 100 rows), frames and bookkeeping columns, windows and single rows.
    rows = TensorDict(
        {
            "frame": torch.randint(0, 255, (60, 84, 84), dtype=torch.uint8),
            "reward": torch.randn(60),
            "row_id": torch.arange(60),
            "terminated": torch.rand(60) < 0.1,
        },
        batch_size=[60],
    )
    if memmap:
        theirs, ours = LazyMemmapStorage(100, scratch_dir=tmp_path / "a"), WindowMemmapStorage(100, scratch_dir=tmp_path / "b")
    else:
        theirs, ours = LazyTensorStorage(100), WindowTensorStorage(100)
    for storage in (theirs, ours):
        ReplayBuffer(storage=storage).extend(rows)
    windows = torch.randint(0, 60, (32, 7))
    for index in (windows, windows[:, 0], 5):
        expected, got = theirs.get(index), ours.get(index)
        assert got.batch_size == expected.batch_size
        for key in rows.keys():
            assert torch.equal(got[key], expected[key]) and got[key].dtype == expected[key].dtype
