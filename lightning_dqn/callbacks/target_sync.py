"""Refreshing the target network, on a clock of frames."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from lightning_dqn.errors import require


class TargetNetworkSync(pl.Callback):
    """Every ``every_frames`` frames, moves the target network toward the online one.

    ``tau=1`` is the seed's hard copy (``tgt_net.load_state_dict(net.state_dict())`` every
    SYNC_TARGET_FRAMES); ``tau<1`` is a soft (Polyak) update, usually with a small ``every_frames``.
    Calls ``pl_module.sync_target(tau)``; the frame of the last sync is saved for resume. With
    several updates per Lightning step the module calls ``on_update_end`` after each update, so the
    syncs land on the same updates as with one.

    Args:
        every_frames: Frames between syncs (seed: SYNC_TARGET_FRAMES, 50 FrozenLake, 1000 Pong).
        tau: Fraction of the online weights mixed in at each sync, in (0, 1].
    """

    def __init__(self, every_frames: int = 1000, tau: float = 1.0):
        require(every_frames >= 1, "TargetNetworkSync.every_frames", f"must be >= 1 frame, got {every_frames}")
        require(0.0 < tau <= 1.0, "TargetNetworkSync.tau", f"must be in (0, 1], got {tau}")
        self.every_frames = every_frames
        self.tau = tau
        self.last_sync_frame = 0
        self.syncs = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self.on_update_end(trainer, pl_module)  # after per-update calls, a no-op: the sync is already done

    def on_update_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        frames = trainer.datamodule.frames
        if frames - self.last_sync_frame >= self.every_frames:
            pl_module.sync_target(self.tau)
            self.last_sync_frame = frames - frames % self.every_frames
            self.syncs += 1

    def state_dict(self) -> dict[str, int]:
        return {"last_sync_frame": self.last_sync_frame, "syncs": self.syncs}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.last_sync_frame = state_dict["last_sync_frame"]
        self.syncs = state_dict["syncs"]
