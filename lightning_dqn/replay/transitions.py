"""The replay memory: a TorchRL buffer of transitions, written in batches, sampled uniformly."""

from __future__ import annotations

import logging

import torch
from torchrl.data import RandomSampler, ReplayBuffer

from lightning_dqn.replay.column_writes import ColumnTensorStorage

# TorchRL logs one INFO line per storage it initialises; it floods piped CLI logs.
logging.getLogger("torchrl").setLevel(logging.WARNING)


def make_replay_buffer(capacity: int, batch_size: int, generator: torch.Generator | None = None) -> ReplayBuffer:
    """A first-in-first-out buffer of ``capacity`` transitions sampled uniformly with replacement.

    TorchRL's ``LazyTensorStorage`` (written column by column, ``column_writes``) allocates its
    tensors on the first ``extend`` from the shapes it sees, so the same buffer holds one-hot
    FrozenLake states or CartPole vectors. Transitions use TorchRL's
    key layout (``observation``, ``action``, ``("next", "observation" | "reward" | "terminated" |
    "truncated")``), so TorchRL's own transforms and losses can read them. ``generator``: what the
    sampler draws from (unset: torch's global generator).
    """
    return ReplayBuffer(
        storage=ColumnTensorStorage(capacity), sampler=RandomSampler(), batch_size=batch_size, generator=generator
    )


__all__ = ["make_replay_buffer"]
