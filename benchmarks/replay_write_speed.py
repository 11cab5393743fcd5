"""What one batched write to the replay buffer costs: TorchRL's storage against ``column_writes``.

Both are the real ``ReplayBuffer.extend`` with the same writer and the same batches; only the
storage's ``set`` differs (TorchRL's TensorDict assignment, or one ``index_copy_`` per column).
Two shapes: ``cartpole_fast.yaml``'s (16 transitions of CartPole in the transitions layout) and
``pong_fast.yaml``'s (2 rows of 84x84 frames in the frames layout). Rounds alternate between the
storages so that a machine whose speed drifts treats both alike; the median round is printed.

    python benchmarks/replay_write_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage, RandomSampler, ReplayBuffer

from lightning_dqn.agent import transitions_to_tensordict
from lightning_dqn.replay.column_writes import ColumnTensorStorage


def cartpole_batch(rng: np.random.Generator) -> TensorDict:
    """16 CartPole transitions as ``TransitionWriter`` builds them (built anew for each write)."""
    return transitions_to_tensordict(
        rng.random((16, 4), dtype=np.float32), rng.integers(0, 2, 16), np.ones(16, np.float32),
        rng.random((16, 4), dtype=np.float32), np.zeros(16, bool), np.zeros(16, bool),
    )  # fmt: skip


def pong_rows(rng: np.random.Generator) -> TensorDict:
    """2 Pong rows as ``FrameWriter`` builds them: the newest frame and the bookkeeping columns."""
    return TensorDict(
        {
            "frame": torch.from_numpy(rng.integers(0, 255, (2, 84, 84), dtype=np.uint8)),
            "action": torch.from_numpy(rng.integers(0, 6, 2)),
            "reward": torch.zeros(2),
            "terminated": torch.zeros(2, dtype=torch.bool),
            "truncated": torch.zeros(2, dtype=torch.bool),
            "episode_step": torch.zeros(2, dtype=torch.int32),
            "row_id": torch.arange(2),
        },
        batch_size=[2],
    )


def ms_per_write(buffer: ReplayBuffer, batches: list[TensorDict]) -> float:
    start = time.perf_counter()
    for batch in batches:
        buffer.extend(batch)
    return 1000 * (time.perf_counter() - start) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=2000, help="writes per round")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per storage")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    print(f"ms per ReplayBuffer.extend, median of {args.rounds} alternating rounds of {args.writes} writes")
    print(f"{'batch':<40}{'TorchRL storage':>16}{'column writes':>15}{'ratio':>8}")
    for name, make in (("cartpole_fast: 16 transitions", cartpole_batch), ("pong_fast: 2 rows of 84x84 frames", pong_rows)):
        batches = [make(rng) for _ in range(args.writes)]
        storages = {"torchrl": LazyTensorStorage(100_000), "columns": ColumnTensorStorage(100_000)}
        buffers = {key: ReplayBuffer(storage=s, sampler=RandomSampler(), batch_size=32) for key, s in storages.items()}
        rounds: dict[str, list[float]] = {key: [] for key in buffers}
        for _ in range(args.rounds):
            for key, buffer in buffers.items():
                rounds[key].append(ms_per_write(buffer, batches))
        theirs, ours = statistics.median(rounds["torchrl"]), statistics.median(rounds["columns"])
        print(f"{name:<40}{theirs:>16.3f}{ours:>15.3f}{ours / theirs:>7.2f}x")


if __name__ == "__main__":
    main()
