"""Which replay memory a run gets, and the writer that fills it.

Three independent choices: the layout (``transitions``: one record per transition; ``frames``: one
row per agent step, stacks and n-step returns rebuilt when sampling), uniform or prioritized
sampling, and RAM or memory-mapped files. The datamodule states them; this file turns them into
TorchRL parts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchrl.data import ReplayBuffer

from lightning_dqn.agent import TransitionWriter
from lightning_dqn.replay.frames import FrameWriter, make_frame_replay
from lightning_dqn.replay.prioritized import PrioritizedSampling, StampedTransitionWriter, make_prioritized_replay_buffer
from lightning_dqn.replay.transitions import make_replay_buffer

PRIORITY_EPS = 1e-6  # added to |TD error| so no transition's priority is ever 0


@dataclass(frozen=True)
class Priorities:
    """Prioritized replay's settings: exponents and the frames over which beta reaches 1."""

    alpha: float
    beta: float
    beta_frames: int


@dataclass
class ReplayMemory:
    buffer: ReplayBuffer
    writer: TransitionWriter | FrameWriter
    sampling: PrioritizedSampling | None  # what the stream samples with, for prioritized replay


def build_replay_memory(
    layout: str,
    capacity: int,
    batch_size: int,
    num_envs: int,
    n_step: int,
    stack: int,
    stacked: bool,
    frames: Callable[[], int],
    priorities: Priorities | None = None,
    memmap_root: str | None = None,
    rank: int = 0,
    generator: torch.Generator | None = None,
) -> ReplayMemory:
    """The buffer, its writer and (prioritized) its sampling for one process.

    ``stack``/``stacked``: frames per observation and whether observations are frame stacks (Atari);
    ``frames``: the frame counter beta anneals with; ``memmap_root``: keep the rows in a new
    directory under it (``frames`` layout only); ``generator``: the one sampling draws from (the
    run's ``replay`` stream, so nothing else shifts what training samples).
    """
    if layout == "transitions":
        if priorities is None:
            buffer = make_replay_buffer(capacity, batch_size, generator)
            return ReplayMemory(buffer, TransitionWriter(buffer, n_step), None)
        buffer = make_prioritized_replay_buffer(
            capacity, batch_size, priorities.alpha, priorities.beta, PRIORITY_EPS, generator
        )
        sampling = PrioritizedSampling(buffer, frames, priorities.beta, priorities.beta_frames)
        return ReplayMemory(buffer, StampedTransitionWriter(buffer, n_step), sampling)

    memmap_dir = None
    if memmap_root is not None:
        os.makedirs(memmap_root, exist_ok=True)
        memmap_dir = tempfile.mkdtemp(prefix=f"replay-rank{rank}-", dir=memmap_root)
    priority = None if priorities is None else (priorities.alpha, priorities.beta, PRIORITY_EPS)
    buffer = make_frame_replay(capacity, batch_size, num_envs, stack, n_step, stacked, memmap_dir, priority, generator)
    sampling = None
    if priorities is not None:  # row ids number the writes: they are the stamps
        sampling = PrioritizedSampling(buffer, frames, priorities.beta, priorities.beta_frames, "row_id", stack - 1)
    return ReplayMemory(buffer, FrameWriter(buffer, stacked=stacked), sampling)


__all__ = ["PRIORITY_EPS", "Priorities", "ReplayMemory", "build_replay_memory"]
