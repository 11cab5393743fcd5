"""Sending the evaluation videos the datamodule records to Weights & Biases."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger


class EvaluationVideoLogger(pl.Callback):
    """Logs the MP4 of each evaluation (``data.record_video``) as ``wandb.Video`` under ``eval/video``
    (``test/video`` for ``test``), next to ``frames``. The file stays in the run's ``videos/``; W&B
    copies it into the run, offline too. Does nothing without videos or without a W&B logger. The
    CLI always adds this callback.
    """

    def __init__(self) -> None:
        self._logged: set[str] = set()

    def _log_latest(self, trainer: pl.Trainer, key: str) -> None:
        path = getattr(trainer.datamodule, "latest_video", None)
        if path is None or path in self._logged:
            return
        self._logged.add(path)
        import wandb

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.log({key: wandb.Video(path, format="mp4"), "frames": float(trainer.datamodule.frames)})

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_latest(trainer, "eval/video")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_latest(trainer, "test/video")
