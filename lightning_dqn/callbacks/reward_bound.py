"""Stopping when the agent is good enough, and keeping the best model on the way."""

from __future__ import annotations

import math
import os
from typing import Any

import pytorch_lightning as pl

from lightning_dqn.collectives import any_rank, decision_interval
from lightning_dqn.errors import require
from lightning_dqn.tracking import checkpoint_directory

MONITORS = ("train", "eval")


def not_solved_line(frames: int, best_mean: float | None, bound: float) -> str:
    """The last line of a run that used its whole budget.

    >>> not_solved_line(500500, 0.67, 0.8)
    'Not solved in 500500 frames: best mean reward 0.670 (bound 0.8)'
    """
    best = "-" if best_mean is None else f"{best_mean:.3f}"
    return f"Not solved in {frames} frames: best mean reward {best} (bound {bound:g})"


class RewardBound(pl.Callback):
    """Stops training when the mean return of the last 100 episodes reaches ``bound``.

    Each time that mean beats its best so far, saves the model to ``<checkpoint dir>/best.ckpt``
    (weights and hyperparameters only: evaluate it with ``test --ckpt_path``; resume from
    ``last.ckpt``) and prints ``Best mean reward updated A -> B, model saved``; on reaching the bound prints
    ``Solved in N frames!`` and stops (exit code 0), as the seed's training loop does. A run that
    ends at ``max_steps`` or ``max_time`` without reaching the bound says so in one last line,
    ``Not solved in N frames: best mean reward X (bound B)`` (exit code 0: it did what it was asked).

    The seed checks from the first episode; here the stop waits for ``min_episodes`` finished
    episodes, so a lucky first success in FrozenLake (a window of one) cannot end a run. Decisions
    are reduced across processes, so with DDP all ranks stop at the same step: there, the ranks
    agree every ``trainer.log_every_n_steps`` steps (one collective for both decisions), so a run
    stops up to that many steps after its window first reached the bound; one process decides
    every step.

    With ``monitor: eval`` the stop looks at the evaluation mean instead (``eval/return_mean`` of
    the ``data.eval_episodes`` greedy episodes played every ``data.eval_every_frames``), which a
    shrinking epsilon cannot flatter; the best checkpoint still follows the training window.

    Args:
        bound: Mean return to reach (seed: MEAN_REWARD_BOUND, 0.8 FrozenLake, 19 Pong).
        min_episodes: Finished episodes required before the bound can stop the run.
        save_best: Whether to write ``best.ckpt`` whenever the mean improves.
        monitor: ``train`` (mean of the last 100 training episodes, the seed's) or ``eval``.
    """

    def __init__(self, bound: float, min_episodes: int = 100, save_best: bool = True, monitor: str = "train"):
        require(min_episodes >= 1, "RewardBound.min_episodes", f"must be >= 1, got {min_episodes}")
        require(monitor in MONITORS, "RewardBound.monitor", f"must be one of {', '.join(MONITORS)}, got {monitor!r}")
        self.monitor = monitor
        self.bound = bound
        self.min_episodes = min_episodes
        self.save_best = save_best
        self.best_mean: float | None = None
        self.best_model_path: str | None = None
        self.solved_at_frame: int | None = None
        self._seen_episodes = 0

    @staticmethod
    def _save_model_only(trainer: pl.Trainer, path: str) -> None:
        """The model's weights and hyperparameters, without optimizer, callbacks or replay buffer:
        the mean can improve hundreds of times a run, and ``last.ckpt`` is the one to resume from."""
        data = trainer.datamodule
        keep_buffer = getattr(data, "buffer_in_checkpoints", False)
        data.buffer_in_checkpoints = False
        try:
            trainer.save_checkpoint(path, weights_only=True)
        finally:
            data.buffer_in_checkpoints = keep_buffer

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if trainer.global_step % decision_interval(trainer) != 0:
            return
        data = trainer.datamodule
        new_episode = data.episodes != self._seen_episodes
        self._seen_episodes = data.episodes
        mean = data.mean_return
        improved = new_episode and not math.isnan(mean) and (self.best_mean is None or mean > self.best_mean)
        solved = self.monitor == "train" and data.episodes >= self.min_episodes and mean >= self.bound
        any_improved, any_solved = any_rank(trainer, [improved, solved])
        if any_improved:
            old = 0.0 if self.best_mean is None else self.best_mean
            self.best_mean = mean if improved else self.best_mean
            if self.save_best:
                self.best_model_path = os.path.join(checkpoint_directory(trainer), "best.ckpt")
                self._save_model_only(trainer, self.best_model_path)
            if trainer.is_global_zero and improved:
                saved = ", model saved" if self.save_best else ""
                print(f"Best mean reward updated {old:.3f} -> {mean:.3f}{saved}", flush=True)

        if any_solved:
            self._stop(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.monitor != "eval" or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        eval_mean = trainer.callback_metrics.get("eval/return_mean")
        if any_rank(trainer, [eval_mean is not None and float(eval_mean) >= self.bound])[0]:
            self._stop(trainer)

    def _stop(self, trainer: pl.Trainer) -> None:
        frames = trainer.datamodule.frames
        self.solved_at_frame = frames
        trainer.should_stop = True
        if trainer.is_global_zero:
            print(f"Solved in {frames} frames!", flush=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Runs only when training ends normally (not on an exception or a signal)."""
        if self.solved_at_frame is None and trainer.is_global_zero:
            print(not_solved_line(trainer.datamodule.frames, self.best_mean, self.bound), flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"best_mean": self.best_mean, "best_model_path": self.best_model_path}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_mean = state_dict["best_mean"]
        self.best_model_path = state_dict["best_model_path"]
