"""Logging what the agent experienced: frames, episodes, the reward window, speed."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl

from lightning_dqn.collectives import summed_over_ranks
from lightning_dqn.log_cadence import is_logging_step


class ExperienceLogger(pl.Callback):
    """Logs what the agent experienced, every logging step.

    - ``frames`` (agent steps over all envs) and ``episodes``; on Atari also ``emulator_frames``
      (frames x frame skip, the unit papers quote); ``updates``, the optimizer steps so far (the
      loggers' own step counts Lightning steps, which are fewer with ``data.updates_per_step`` > 1);
    - ``reward_100``: mean return of the last 100 training episodes, the seed's "mean reward";
    - ``reward_recent``: the same over the last ``recent_episodes`` (Pong's 100 games span most of
      an hour on a CPU; a short window shows where learning is now);
    - ``fps``: frames played between two logging steps over the wall time between them, so it
      measures the whole loop (acting, sampling, learning);
    - ``priority_beta`` with prioritized replay (its importance-weight exponent, annealed by frames);
    - ``time_s``: wall seconds of training, carried across resumes, to draw curves against time;
    - ``episode/return`` and ``episode/length`` of every finished training episode, one row each;
    - ``frames`` next to the evaluation metrics too, so every row has the x-axis W&B plots against;
    - with several processes (DDP), the figures above are rank 0's, and ``global/frames``,
      ``global/episodes`` (summed over ranks) and ``global/reward_100`` (the mean over every rank's
      last 100 episodes) sit beside them, gathered in one all-reduce per logging step.

    The CLI always adds this callback.
    """

    def __init__(self, recent_episodes: int = 20) -> None:
        self.recent_episodes = recent_episodes
        self._start_time: float | None = None
        self._time_before = 0.0  # training seconds of the runs this one resumes
        self._last_time: float | None = None
        self._last_frames = 0
        self._logged_episodes: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start_time = self._last_time = time.perf_counter()
        self._last_frames = trainer.datamodule.frames

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if not is_logging_step(trainer):
            return
        data = trainer.datamodule
        now = time.perf_counter()
        counts = {
            "frames": float(data.frames),
            "episodes": float(data.episodes),
            "updates": float(trainer.global_step),
            "time_s": self._elapsed(now),
        }
        if getattr(data, "is_atari", False):
            counts["emulator_frames"] = float(data.frames * data.atari.frame_skip)
        if getattr(data, "priority_beta", None) is not None:
            counts["priority_beta"] = data.priority_beta
        pl_module.log_dict(counts, batch_size=1)
        if trainer.world_size > 1:
            self._log_over_ranks(trainer, pl_module)
        shown = {}
        if not math.isnan(data.mean_return):
            shown["reward_100"] = data.mean_return
            recent = list(data.agent.recent_returns)[-self.recent_episodes :]
            pl_module.log("reward_recent", sum(recent) / len(recent), batch_size=1)
        if self._last_time is not None and now > self._last_time:
            shown["fps"] = (data.frames - self._last_frames) / (now - self._last_time)
        if shown:
            pl_module.log_dict(shown, prog_bar=True, batch_size=1)
        self._last_time, self._last_frames = now, data.frames
        self._log_finished_episodes(trainer)

    @staticmethod
    def _log_over_ranks(trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        data = trainer.datamodule
        recent = list(data.agent.recent_returns)
        frames, episodes, returns, count = summed_over_ranks(trainer, [data.frames, data.episodes, sum(recent), len(recent)])
        totals = {"global/frames": frames, "global/episodes": episodes}
        if count:
            totals["global/reward_100"] = returns / count
        pl_module.log_dict(totals, batch_size=1)

    def _log_finished_episodes(self, trainer: pl.Trainer) -> None:
        """One row per training episode finished since the last logging step (at most 100)."""
        data = trainer.datamodule
        new = data.episodes - (data.episodes if self._logged_episodes is None else self._logged_episodes)
        self._logged_episodes = data.episodes
        if new <= 0:
            return
        returns = list(data.agent.recent_returns)[-new:]
        lengths = list(data.agent.recent_lengths)[-new:]
        for logger in trainer.loggers:
            for episode_return, length in zip(returns, lengths):
                row = {"episode/return": episode_return, "episode/length": float(length), "frames": float(data.frames)}
                logger.log_metrics(row, step=trainer.global_step)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit" and trainer.datamodule is not None:
            # rank 0's counter, as in training: frames are counted per process
            pl_module.log("frames", float(trainer.datamodule.frames), batch_size=1, rank_zero_only=True)

    def _elapsed(self, now: float | None = None) -> float:
        if self._start_time is None:
            return self._time_before
        return self._time_before + (now or time.perf_counter()) - self._start_time

    def state_dict(self) -> dict:
        return {"time_s": self._elapsed()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._time_before = state_dict.get("time_s", 0.0)
