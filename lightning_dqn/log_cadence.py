"""When to log: once every ``trainer.log_every_n_steps`` optimizer steps, not every step."""

from __future__ import annotations

import pytorch_lightning as pl


def is_logging_step(trainer: pl.Trainer) -> bool:
    """True on the steps whose metrics Lightning will write to the loggers.

    Calling ``self.log`` costs a few hundred microseconds a metric (and a device sync for progress
    bar values), so the module and callbacks log only on the steps Lightning flushes. It asks the
    trainer's own logger connector, so it agrees with Lightning in ``training_step`` and in
    ``on_train_batch_end`` alike.
    """
    return trainer._logger_connector.should_update_logs


__all__ = ["is_logging_step"]
