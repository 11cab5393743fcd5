"""Logging what the agent experienced: frames, episodes, the reward window, speed."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl

from lightning_dqn.log_cadence import is_logging_step


class ExperienceLogger(pl.Callback):
    """Logs ``frames``, ``episodes``, ``reward_100`` and ``fps`` (frames per second of wall time).

    ``reward_100`` is the mean return of the last 100 training episodes, the seed's "mean reward".
    ``fps`` counts all frames played between two logging steps over the wall time between them,
    so it measures the whole loop (acting, sampling, learning). The CLI always adds this callback.
    """

    def __init__(self) -> None:
        self._last_time: float | None = None
        self._last_frames = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_time = time.perf_counter()
        self._last_frames = trainer.datamodule.frames

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if not is_logging_step(trainer):
            return
        data = trainer.datamodule
        now = time.perf_counter()
        pl_module.log_dict({"frames": float(data.frames), "episodes": float(data.episodes)}, batch_size=1)
        shown = {}
        if not math.isnan(data.mean_return):
            shown["reward_100"] = data.mean_return
        if self._last_time is not None and now > self._last_time:
            shown["fps"] = (data.frames - self._last_frames) / (now - self._last_time)
        if shown:
            pl_module.log_dict(shown, prog_bar=True, batch_size=1)
        self._last_time, self._last_frames = now, data.frames
