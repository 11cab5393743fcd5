"""Prioritized experience replay (Schaul et al. 2016) on TorchRL's ``PrioritizedSampler``.

A transition is drawn with probability ``p_i^alpha / sum_k p_k^alpha``, ``p_i`` being its last
absolute TD error (new transitions get the largest priority seen, so each is drawn soon). The bias
this brings is corrected by importance weights ``(N * P(i))^-beta``, normalised by their maximum
(TorchRL computes ``(p_i / p_min)^-beta``), with ``beta`` annealed to 1 over the run: the
correction matters most at the end, when the estimates should be unbiased.

Three things peers get wrong, done here on purpose:
- the priority is ``|TD error|`` (TorchRL's ``DQNLoss`` writes the squared error; the paper uses
  the absolute one);
- ``beta`` really anneals: it is a function of the frame counter, so it also resumes correctly;
- a priority update never lands on a slot that was overwritten since it was sampled. Lightning
  prefetches a batch, so by the time a batch's TD errors exist the stream has already written the
  next batch's frames, possibly over the very slots just sampled. Each stored transition carries a
  ``stamp`` (its write number); an update applies only where the slot still holds that stamp.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.data import PrioritizedSampler, ReplayBuffer

from lightning_dqn.agent import TransitionWriter
from lightning_dqn.replay.column_writes import ColumnTensorStorage
from lightning_dqn.replay.frames import next_write_number, stored_rows

STAMP = "stamp"
INDEX = "index"
WEIGHT = "priority_weight"
TD_ERROR = "td_error"


def make_prioritized_replay_buffer(
    capacity: int, batch_size: int, alpha: float, beta: float, eps: float, generator: torch.Generator | None = None
) -> ReplayBuffer:
    """``make_replay_buffer``'s transition buffer, sampled in proportion to ``priority^alpha``.

    Without a ``generator`` TorchRL's ``PrioritizedSampler`` draws from numpy's global generator.
    """
    sampler = PrioritizedSampler(max_capacity=capacity, alpha=alpha, beta=beta, eps=eps)
    return ReplayBuffer(storage=ColumnTensorStorage(capacity), sampler=sampler, batch_size=batch_size, generator=generator)


def annealed_beta(start: float, frames: int, anneal_frames: int) -> float:
    """``start`` at frame 0, rising linearly to 1 at ``anneal_frames`` and staying there.

    >>> annealed_beta(0.4, 0, 1000), annealed_beta(0.4, 500, 1000), annealed_beta(0.4, 5000, 1000)
    (0.4, 0.7, 1.0)
    """
    return start + (1.0 - start) * min(1.0, frames / max(1, anneal_frames))


class StampedTransitionWriter(TransitionWriter):
    """``TransitionWriter`` that numbers every transition it writes (the ``stamp`` column)."""

    def __init__(self, buffer: ReplayBuffer, n_step: int = 1):
        super().__init__(buffer, n_step)
        self.written: int | None = None  # read from the storage at the first write (after a resume)

    def _next_stamp(self) -> int:
        if self.written is None:
            self.written = next_write_number(self.buffer, STAMP)
        return self.written

    def extend(self, batch: TensorDict) -> None:
        start = self._next_stamp()
        batch[STAMP] = torch.arange(start, start + batch.shape[0], dtype=torch.int64)
        self.written = start + batch.shape[0]
        self.buffer.extend(batch)


class PrioritizedSampling:
    """What the stream calls to get a batch: applies the TD errors of earlier batches as priorities,
    sets ``beta`` for the current frame, samples, and hands the batch its ``index`` and
    ``priority_weight``. The module multiplies its loss by the weight and writes ``td_error`` into
    the batch it trained on (TorchRL's convention); ``track`` is given that very batch, after it
    was moved to the device (the datamodule's ``on_after_batch_transfer``), so the TD errors reach
    this object on any accelerator.

    Args:
        buffer: A buffer from ``make_prioritized_replay_buffer`` filled by a ``StampedTransitionWriter``,
            or a frame replay with priorities (``make_frame_replay(priority=...)``).
        frames: Returns the current frame count (for ``beta``).
        beta_start: ``beta`` at frame 0.
        beta_frames: Frames over which ``beta`` rises to 1.
        stamp_key: The stored column that numbers writes: ``stamp``, or the frame replay's ``row_id``.
        start_column: For the frame replay, whose samples are windows of rows: the window's column
            of the transition's start row (``stack - 1``), whose priority the TD error sets.
    """

    def __init__(
        self,
        buffer: ReplayBuffer,
        frames,
        beta_start: float,
        beta_frames: int,
        stamp_key: str = STAMP,
        start_column: int | None = None,
    ):
        self.buffer = buffer
        self.frames = frames
        self.beta_start = beta_start
        self.beta_frames = beta_frames
        self.stamp_key = stamp_key
        self.start_column = start_column
        self.pending: deque[TensorDict] = deque()
        self.updated = 0  # priorities written
        self.skipped = 0  # updates dropped because their slot had been overwritten

    @property
    def beta(self) -> float:
        return annealed_beta(self.beta_start, self.frames(), self.beta_frames)

    def track(self, batch: TensorDict) -> None:
        """Remembers a batch about to be trained on; its TD errors become priorities at the next sample."""
        self.pending.append(batch)
        while len(self.pending) > 4:  # batches never trained on (an interrupted step) must not pile up
            self.pending.popleft()

    def apply_pending(self) -> None:
        """Writes the priorities of every tracked batch whose TD errors are known, except where the
        slot was overwritten since the batch was sampled."""
        waiting = deque()
        while self.pending:
            batch = self.pending.popleft()
            if TD_ERROR not in batch.keys():
                waiting.append(batch)
                continue
            index, stamp, td_error = (batch[key].cpu() for key in (INDEX, STAMP, TD_ERROR))
            fresh = self._stamps(index) == stamp
            self.skipped += int((~fresh).sum())
            if fresh.any():
                self.buffer.update_priority(index[fresh], td_error[fresh].abs().float())
                self.updated += int(fresh.sum())
        self.pending = waiting

    def _stamps(self, index: torch.Tensor) -> torch.Tensor:
        return stored_rows(self.buffer.storage).get(self.stamp_key)[index]

    def __call__(self) -> TensorDict:
        self.apply_pending()
        self.buffer.sampler.beta = self.beta
        batch, info = self.buffer.sample(return_info=True)
        index = torch.as_tensor(info["index"])
        if self.start_column is not None:
            index = index[:, self.start_column]
        batch[INDEX] = index
        if STAMP not in batch.keys():  # transitions carry theirs; rebuilt frame windows do not
            batch[STAMP] = self._stamps(index)
        batch[WEIGHT] = torch.as_tensor(np.asarray(info[WEIGHT]), dtype=torch.float32)
        return batch


__all__ = [
    "PrioritizedSampling",
    "StampedTransitionWriter",
    "annealed_beta",
    "make_prioritized_replay_buffer",
]
