"""Epsilon annealing, set in frames."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from lightning_dqn.errors import require
from lightning_dqn.log_cadence import is_logging_step


def linear_epsilon(frame: int, start: float, final: float, decay_frames: int, begin_frame: int = 0) -> float:
    """The seed's schedule, ``max(final, start - frame / decay_frames)``, held at ``start`` until ``begin_frame``.

    Example: start 1.0, final 0.02, decay 100_000 -> frame 0: 1.0, 50_000: 0.5, 98_000: 0.02.
    When ``start - final != 1`` the seed's formula reaches ``final`` before ``decay_frames``; kept as is.
    MinAtar's schedule, 1 -> 0.1 over the 100,000 frames after 5,000 of random play, is
    start 1.0, final 0.1, decay 111_111 (a fall of 1.0), begin 5_000:

    >>> [round(linear_epsilon(f, 1.0, 0.1, 111_111, 5_000), 3) for f in (0, 5_000, 55_000, 105_000, 200_000)]
    [1.0, 1.0, 0.55, 0.1, 0.1]
    """
    return max(final, start - max(0, frame - begin_frame) / decay_frames)


class EpsilonSchedule(pl.Callback):
    """Sets the agent's exploration rate from the frame counter after every training batch.

    Reads ``trainer.datamodule.frames`` and writes ``trainer.datamodule.epsilon``; logs ``epsilon``.
    With several updates per Lightning step the module calls ``on_update_end`` after each update,
    so the agent's next frames are played with the epsilon of their frame count all the same.
    It holds no state of its own: on resume the restored frame counter puts it back in place.

    Args:
        start: Epsilon at frame 0 (seed: EPSILON_START 1.0).
        final: Lowest epsilon (seed: EPSILON_FINAL, 0.0 FrozenLake, 0.02 Pong).
        decay_frames: Frames over which epsilon falls by 1.0 (seed: EPSILON_DECAY_LAST_FRAME 1e5).
        begin_frame: Frames at ``start`` before the fall begins (seed: 0; MinAtar: 5,000, its random play).
    """

    def __init__(self, start: float = 1.0, final: float = 0.02, decay_frames: int = 100_000, begin_frame: int = 0):
        require(0.0 <= start <= 1.0, "EpsilonSchedule.start", f"must be in [0, 1], got {start}")
        require(0.0 <= final <= start, "EpsilonSchedule.final", f"must be in [0, start={start}], got {final}")
        require(decay_frames >= 1, "EpsilonSchedule.decay_frames", f"must be >= 1 frame, got {decay_frames}")
        self.start = start
        self.final = final
        require(begin_frame >= 0, "EpsilonSchedule.begin_frame", f"must be >= 0 frames, got {begin_frame}")
        self.decay_frames = decay_frames
        self.begin_frame = begin_frame

    def value_at(self, frame: int) -> float:
        return linear_epsilon(frame, self.start, self.final, self.decay_frames, self.begin_frame)

    def _update(self, trainer: pl.Trainer) -> float:
        epsilon = self.value_at(trainer.datamodule.frames)
        trainer.datamodule.epsilon = epsilon
        return epsilon

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._update(trainer)

    def on_update_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._update(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        epsilon = self._update(trainer)  # after per-update calls, the same value again: a function of frames
        if is_logging_step(trainer):
            pl_module.log("epsilon", epsilon, prog_bar=True, batch_size=1)
