"""Epsilon annealing, set in frames."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from lightning_dqn.errors import require
from lightning_dqn.log_cadence import is_logging_step


def linear_epsilon(frame: int, start: float, final: float, decay_frames: int) -> float:
    """The seed's schedule: ``max(final, start - frame / decay_frames)``.

    Example: start 1.0, final 0.02, decay 100_000 -> frame 0: 1.0, 50_000: 0.5, 98_000: 0.02.
    When ``start - final != 1`` the seed's formula reaches ``final`` before ``decay_frames``; kept as is.
    """
    return max(final, start - frame / decay_frames)


class EpsilonSchedule(pl.Callback):
    """Sets the agent's exploration rate from the frame counter after every training batch.

    Reads ``trainer.datamodule.frames`` and writes ``trainer.datamodule.epsilon``; logs ``epsilon``.
    It holds no state of its own: on resume the restored frame counter puts it back in place.

    Args:
        start: Epsilon at frame 0 (seed: EPSILON_START 1.0).
        final: Lowest epsilon (seed: EPSILON_FINAL, 0.0 FrozenLake, 0.02 Pong).
        decay_frames: Frames over which epsilon falls by 1.0 (seed: EPSILON_DECAY_LAST_FRAME 1e5).
    """

    def __init__(self, start: float = 1.0, final: float = 0.02, decay_frames: int = 100_000):
        require(0.0 <= start <= 1.0, "EpsilonSchedule.start", f"must be in [0, 1], got {start}")
        require(0.0 <= final <= start, "EpsilonSchedule.final", f"must be in [0, start={start}], got {final}")
        require(decay_frames >= 1, "EpsilonSchedule.decay_frames", f"must be >= 1 frame, got {decay_frames}")
        self.start = start
        self.final = final
        self.decay_frames = decay_frames

    def value_at(self, frame: int) -> float:
        return linear_epsilon(frame, self.start, self.final, self.decay_frames)

    def _update(self, trainer: pl.Trainer) -> float:
        epsilon = self.value_at(trainer.datamodule.frames)
        trainer.datamodule.epsilon = epsilon
        return epsilon

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._update(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        epsilon = self._update(trainer)
        if is_logging_step(trainer):
            pl_module.log("epsilon", epsilon, prog_bar=True, batch_size=1)
