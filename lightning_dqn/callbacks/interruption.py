"""Stopping on a signal so that a killed run is saved and never looks like a finished one.

Lightning 2.6 on SIGTERM (a scheduler's preemption, ``kill``) stops at the end of the current batch
by raising ``SIGTERMException``, saves nothing, and the process exits with code 0; Ctrl-C raises
``KeyboardInterrupt`` wherever the code happens to be. This callback makes both stop at a batch
boundary (Lightning's own SIGTERM path), writes ``last.ckpt`` there (the replay buffer beside it, as
any save), and records the signal so the CLI exits with the shell's code, 128 + signal number
(143 for SIGTERM, 130 for SIGINT). A second Ctrl-C stops at once, without saving.

Under SLURM with Lightning's auto-requeue, SLURM's warning signal (``--signal=SIGUSR1@90``) is
handled the same way: at the batch boundary the run saves ``last.ckpt``, then Lightning's own
requeue handler writes its ``hpc_ckpt_<n>.ckpt`` in ``trainer.default_root_dir`` and calls
``scontrol requeue``; the requeued job resumes from that checkpoint (Lightning looks there when
``ckpt_path`` is unset), with its buffer. Lightning would otherwise save from inside the signal
handler, in the middle of a step.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment

from lightning_dqn.tracking import checkpoint_directory


@dataclass(frozen=True)
class Interruption:
    """What stopped the run, where it was, and where it was saved."""

    signal_number: int
    frames: int
    global_step: int
    checkpoint: str | None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal_number).name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signal_number


class GracefulInterruption(pl.Callback):
    """Turns SIGTERM, SIGINT (and SLURM's requeue signal) into a checkpoint and an honest exit code.

    The CLI always adds it and reads ``interruption`` when ``fit`` ends with Lightning's
    ``SIGTERMException``. Handlers are installed for ``fit`` only, from the main thread, and the
    previous ones are put back at teardown.
    """

    def __init__(self) -> None:
        self.interruption: Interruption | None = None
        self._signal: int | None = None
        self._previous: dict[int, Any] = {}
        self._requeue_signal: int | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or threading.current_thread() is not threading.main_thread():
            return
        self._signal, self.interruption = None, None
        # Installed before Lightning registers its own (later in fit): Lightning then calls this
        # SIGTERM handler after its own, and leaves the SIGUSR1 handler to this one.
        handled = [signal.SIGTERM, signal.SIGINT]
        environment = trainer._accelerator_connector.cluster_environment
        if isinstance(environment, SLURMEnvironment) and environment.auto_requeue:
            self._requeue_signal = environment.requeue_signal or signal.SIGUSR1
            handled.append(self._requeue_signal)
        for number in handled:
            self._previous[number] = signal.getsignal(number)
            signal.signal(number, self._on_signal)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._signal is not None:  # arrived before Lightning's handler was in place: pass it on now
            os.kill(os.getpid(), signal.SIGTERM)

    def _on_signal(self, number: int, frame: Any) -> None:
        if number == signal.SIGINT and self._signal is not None:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without saving
        if self._signal is None:
            self._signal = number
        if number != signal.SIGTERM:
            # Lightning's SIGTERM handler stops the loop at the end of the current batch (and passes
            # the signal to processes its launcher started); send ourselves one to go the same way.
            os.kill(os.getpid(), signal.SIGTERM)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self._signal is None or trainer.state.fn != "fit":
            return
        path = self._save(trainer)
        self.interruption = Interruption(self._signal, trainer.datamodule.frames, trainer.global_step, path)
        if self._signal == self._requeue_signal:
            trainer._signal_connector._slurm_sigusr_handler_fn(self._signal, None)  # hpc_ckpt, scontrol requeue

    @staticmethod
    def _save(trainer: pl.Trainer) -> str | None:
        """Writes ``last.ckpt`` where ``ModelCheckpoint`` keeps it (every rank takes part)."""
        path = os.path.join(checkpoint_directory(trainer), "last.ckpt")
        if trainer.global_step == 0:  # nothing learned yet: nothing worth resuming
            return None
        trainer.save_checkpoint(path)
        return path

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


__all__ = ["GracefulInterruption", "Interruption"]
