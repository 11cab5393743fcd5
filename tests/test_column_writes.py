"""Column-by-column writes leave a storage exactly as TorchRL's own writes do.

Both storages take the same batches through the real ``ReplayBuffer.extend`` (nested keys, the
first allocating write, wrap-around past the capacity); every column, the length, the last cursor
and what a seeded ``sample`` returns must agree.
"""

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.data import LazyMemmapStorage, LazyTensorStorage, RandomSampler, ReplayBuffer

from lightning_dqn.agent import Agent, transitions_to_tensordict
from lightning_dqn.envs.generic import make_vector_env
from lightning_dqn.replay.column_writes import ColumnMemmapStorage, ColumnTensorStorage
from lightning_dqn.replay.transitions import make_replay_buffer


def batches(count: int, rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield transitions_to_tensordict(
            rng.random((rows, 4), dtype=np.float32),
            rng.integers(0, 2, rows),
            rng.random(rows, dtype=np.float32),
            rng.random((rows, 4), dtype=np.float32),
            rng.random(rows) < 0.1,
            rng.random(rows) < 0.05,
        )


@pytest.mark.parametrize("memmap", [False, True])
def test_column_writes_store_what_torchrls_writes_store(memmap, tmp_path):
    if memmap:
        theirs, ours = LazyMemmapStorage(100, scratch_dir=tmp_path / "a"), ColumnMemmapStorage(100, scratch_dir=tmp_path / "b")
    else:
        theirs, ours = LazyTensorStorage(100), ColumnTensorStorage(100)
    buffers = [
        ReplayBuffer(storage=storage, sampler=RandomSampler(), batch_size=16, generator=torch.Generator().manual_seed(1))
        for storage in (theirs, ours)
    ]
    for count, batch in enumerate(batches(20, 7)):  # 140 rows into 100: wraps around
        for buffer in buffers:
            buffer.extend(batch)
        assert len(buffers[0]) == len(buffers[1]) == min(7 * (count + 1), 100)
        assert torch.equal(torch.as_tensor(theirs._last_cursor), torch.as_tensor(ours._last_cursor))
    expected, got = theirs.get(torch.arange(100)), ours.get(torch.arange(100))
    assert set(got.keys(True, True)) == set(expected.keys(True, True)) == {
        "observation", "action", ("next", "observation"), ("next", "reward"), ("next", "terminated"), ("next", "truncated"),
    }  # fmt: skip
    for key in expected.keys(True, True):
        assert torch.equal(got[key], expected[key]) and got[key].dtype == expected[key].dtype
    assert (buffers[0].sample() == buffers[1].sample()).all()


def test_column_writes_take_their_own_path_after_the_first_write(monkeypatch):
    # Only the allocating first write may go through TorchRL's TensorDict assignment; a change
    # that sent every write back there would still store the same rows, so count the calls.
    calls = []
    original = LazyTensorStorage.set
    monkeypatch.setattr(LazyTensorStorage, "set", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    buffer = ReplayBuffer(storage=ColumnTensorStorage(50), sampler=RandomSampler(), batch_size=4)
    for batch in batches(10, 3):
        buffer.extend(batch)
    assert len(calls) == 1 and len(buffer) == 30


def test_a_write_with_a_wrong_dtype_fails_loudly():
    buffer = make_replay_buffer(10, 4)
    buffer.extend(next(batches(1, 2)))
    wrong = next(batches(1, 2))
    wrong["next", "reward"] = wrong["next", "reward"].double()
    with pytest.raises(RuntimeError, match="dtype"):
        buffer.extend(wrong)


def test_agent_fills_a_column_storage_with_its_real_transitions():
    env = make_vector_env("CartPole-v1", None, 4)
    buffer = make_replay_buffer(1000, 32)
    agent = Agent(env, buffer, seed=0)
    agent.play(None, 400)
    assert isinstance(buffer.storage, ColumnTensorStorage) and len(buffer) == agent.frames >= 400
    stored = buffer.storage.get(torch.arange(len(buffer)))
    # CartPole's physics: each next observation follows from its observation by one Euler step of
    # the cart's position (x' = x + 0.02 * x_dot), so a row with columns from different steps fails.
    x, x_dot, next_x = stored["observation"][:, 0], stored["observation"][:, 1], stored["next", "observation"][:, 0]
    assert torch.allclose(next_x, x + 0.02 * x_dot, atol=1e-5)
