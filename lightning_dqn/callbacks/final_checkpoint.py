"""``last.ckpt`` holds the end of a run, not its last periodic save."""

from __future__ import annotations

import os

import pytorch_lightning as pl

from lightning_dqn.tracking import checkpoint_directory


class FinalCheckpoint(pl.Callback):
    """Writes ``last.ckpt`` (with the replay buffer, as any save) when training ends normally.

    Lightning's ``ModelCheckpoint(save_last=True, every_n_train_steps=N)`` writes ``last.ckpt``
    only at its periodic saves, so a run that reached its bound or its ``max_steps`` between two
    of them left a ``last.ckpt`` up to N steps old (measured: a FrozenLake run that stopped at
    step 106,915 had ``last.ckpt`` at step 100,000). Only when the run has a ``ModelCheckpoint``
    that keeps a last checkpoint; a run stopped by a signal is saved by ``GracefulInterruption``.
    The CLI always adds it.
    """

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        callback = trainer.checkpoint_callback
        if callback is None or not getattr(callback, "save_last", False) or trainer.global_step == 0:
            return
        trainer.save_checkpoint(os.path.join(checkpoint_directory(trainer), "last.ckpt"))


__all__ = ["FinalCheckpoint"]
