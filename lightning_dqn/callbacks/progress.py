"""A progress line every few seconds, in the lecture's words, for logs that no progress bar reaches."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl


def progress_line(frames: int, episodes: int, mean_return: float, epsilon: float, fps: float | None) -> str:
    """The seed's progress line, with the frame rate since the last line.

    >>> progress_line(300, 35, 0.029, 1.0, 412.5)
    '300: done 35 episodes, mean reward 0.029, eps 1.00, speed 412 f/s'
    >>> progress_line(0, 0, float("nan"), 1.0, None)
    '0: done 0 episodes, mean reward -, eps 1.00'
    """
    mean = "-" if math.isnan(mean_return) else f"{mean_return:.3f}"
    line = f"{frames}: done {episodes} episodes, mean reward {mean}, eps {epsilon:.2f}"
    return line if fps is None else f"{line}, speed {fps:.0f} f/s"


class ProgressPrinter(pl.Callback):
    """Prints ``progress_line`` at most every ``every_seconds`` of training, on rank 0.

    The CLI adds it when stdout is not a terminal (a SLURM log, ``nohup``, a pipe), where the
    progress bar is off and a stuck run would otherwise print nothing but its improvements.

    Args:
        every_seconds: Wall seconds between two lines.
    """

    def __init__(self, every_seconds: float = 30.0):
        self.every_seconds = every_seconds
        self._last_time: float | None = None
        self._last_frames = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_time, self._last_frames = time.monotonic(), trainer.datamodule.frames

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        now = time.monotonic()
        if self._last_time is None or now - self._last_time < self.every_seconds:
            return
        data = trainer.datamodule
        fps = (data.frames - self._last_frames) / (now - self._last_time)
        self._last_time, self._last_frames = now, data.frames
        if trainer.is_global_zero:
            print(progress_line(data.frames, data.episodes, data.mean_return, data.epsilon, fps), flush=True)


__all__ = ["ProgressPrinter", "progress_line"]
