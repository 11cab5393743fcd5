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

    Lightning 2.6's ``ModelCheckpoint.on_train_end`` (which runs after this, checkpoint callbacks
    going last) also saves a last checkpoint, but only in a run that made no periodic save; finding
    a ``last.ckpt`` it did not write, it would version its own as ``last-v1.ckpt`` beside it. So the
    file written here is made the callback's ``last_model_path``: it then rewrites that same file
    (the replay dump of the same step is not written twice) and one ``last.ckpt`` remains.
    """

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        callback = trainer.checkpoint_callback
        if callback is None or not getattr(callback, "save_last", False) or trainer.global_step == 0:
            return
        path = os.path.join(checkpoint_directory(trainer), "last.ckpt")
        trainer.save_checkpoint(path)
        if hasattr(callback, "last_model_path"):
            callback.last_model_path = path


__all__ = ["FinalCheckpoint"]
