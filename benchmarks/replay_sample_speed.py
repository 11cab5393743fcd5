"""How long the frame-once replay takes to sample one Pong batch, and why it gathers with ``index_select``.

Why: on a GPU the update of ``pong_fast.yaml`` is cheap enough (a few ms) that sampling shows in the
profile (benchmarks/results/gpu/). A batch is 32 windows of ``stack + n_step`` rows; its frames are
gathered from the storage, then the observation and next observation are cut out of each window.
This script fills a buffer with random 84x84 frames in Pong's layout (2 envs, stack 4, 3-step,
episodes of 900 agent steps) and prints the milliseconds per ``buffer.sample()``, next to the two
ways of gathering the same 224 frames: torch's advanced indexing (``frames[index]``, what TorchRL's
storages do) and ``index_select`` (what ``WindowTensorStorage`` does).

A second table does the same for ``cartpole_fast.yaml``'s shapes with 3-step returns (16 envs,
batch 128): one agent's random CartPole play is written both ways, frames (windows rebuilt when
sampling) and transitions (n-step transitions written as their windows close), and each buffer's
``sample()`` is timed in alternating rounds.

    python benchmarks/replay_sample_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from tensordict import TensorDict

from lightning_dqn.agent import Agent, TransitionWriter
from lightning_dqn.envs.generic import make_vector_env
from lightning_dqn.replay.frames import FrameWriter, gather_rows, make_frame_replay, stored_rows
from lightning_dqn.replay.transitions import make_replay_buffer

NUM_ENVS, STACK, N_STEP, BATCH, EPISODE = 2, 4, 3, 32, 900


def milliseconds(fn: Callable[[], object], repeats: int) -> float:
    """Mean wall time of ``fn`` in ms over ``repeats`` calls, after 20 warm-up calls."""
    for _ in range(20):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - start) / repeats


def pong_like_rows(rows: int, seed: int) -> TensorDict:
    """``rows`` rows as the frame writer lays them out: 2 envs interleaved, episodes of 900 steps."""
    rng = np.random.default_rng(seed)
    step = (np.arange(rows) // NUM_ENVS) % EPISODE
    return TensorDict(
        {
            "frame": torch.from_numpy(rng.integers(0, 255, (rows, 84, 84), dtype=np.uint8)),
            "action": torch.from_numpy(rng.integers(0, 6, rows)),
            "reward": torch.zeros(rows),
            "terminated": torch.from_numpy(step == EPISODE - 1),
            "truncated": torch.zeros(rows, dtype=torch.bool),
            "episode_step": torch.from_numpy(step.astype(np.int32)),
            "row_id": torch.arange(rows),
        },
        batch_size=[rows],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows stored (one per agent step)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    buffer = make_frame_replay(args.rows, BATCH, NUM_ENVS, STACK, N_STEP, generator=torch.Generator().manual_seed(0))
    buffer.extend(pong_like_rows(args.rows, seed=0))
    frames = stored_rows(buffer.storage)["frame"]
    windows = torch.randint(args.rows, (BATCH, STACK + N_STEP))

    print(f"{args.rows} rows of 84x84 frames, batch {BATCH}, stack {STACK}, {N_STEP}-step, torch threads {args.threads}")
    timings = {
        "buffer.sample()": milliseconds(buffer.sample, args.repeats),
        "gather 32x7 frames: frames[index]": milliseconds(lambda: frames[windows], args.repeats),
        "gather 32x7 frames: gather_rows (index_select)": milliseconds(lambda: gather_rows(frames, windows), args.repeats),
    }
    for name, ms in timings.items():
        print(f"  {name:<48}{ms:>7.3f} ms")
    cartpole_n_step(args.repeats)


class BothWriters:
    """Hands every played step to both writers."""

    def __init__(self, *writers):
        self.writers = writers

    def write(self, steps) -> None:
        for writer in self.writers:
            writer.write(steps)


def cartpole_n_step(repeats: int, num_envs: int = 16, batch: int = 128, n_step: int = 3, frames: int = 50_000) -> None:
    """ms per ``sample()`` of 3-step CartPole transitions: rebuilt from frames, or stored as written."""
    generator = torch.Generator().manual_seed(0)
    frame_rows = make_frame_replay(100_000, batch, num_envs, 1, n_step, stacked=False, generator=generator)
    transitions = make_replay_buffer(100_000, batch, generator=torch.Generator().manual_seed(0))
    writers = BothWriters(FrameWriter(frame_rows, stacked=False), TransitionWriter(transitions, n_step))
    agent = Agent(make_vector_env("CartPole-v1", None, num_envs), transitions, seed=0, writer=writers)
    agent.play(None, frames)
    rounds: dict[str, list[float]] = {"frames": [], "transitions": []}
    for _ in range(5):
        rounds["frames"].append(milliseconds(frame_rows.sample, repeats))
        rounds["transitions"].append(milliseconds(transitions.sample, repeats))
    frames_ms, transitions_ms = (float(np.median(rounds[key])) for key in ("frames", "transitions"))
    print(f"\nCartPole, {agent.frames} random frames of {num_envs} envs, batch {batch}, {n_step}-step, median of 5 rounds")
    print(f"  {'frames layout (windows rebuilt when sampling)':<48}{frames_ms:>7.3f} ms")
    print(f"  {'transitions layout (written as windows close)':<48}{transitions_ms:>7.3f} ms ({transitions_ms / frames_ms:.2f}x)")


if __name__ == "__main__":
    main()
