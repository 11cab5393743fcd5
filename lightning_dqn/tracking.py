"""Experiment tracking: Weights & Biases by default, offline unless an account is configured.

- ``DQNWandbLogger`` is Lightning's ``WandbLogger`` with three defaults a research run needs: it
  goes online only when ``WANDB_API_KEY`` is set, ``WANDB_MODE=online`` or a ``wandb agent``
  started the process (otherwise the run is
  written under ``save_dir/wandb/offline-run-*``, to ``wandb sync`` later); every metric is plotted
  against ``frames`` (``define_metric``), so runs with different ``num_envs`` or replay ratios line
  up; and checkpoints are uploaded as artifacts only when asked (``log_model``).
- ``run_directory`` is the one place that says where a run's own files go (config, checkpoints,
  videos), whichever logger is used.
- ``git_state`` records the commit and whether the tree had uncommitted changes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from lightning_dqn.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent


def wandb_goes_online() -> bool:
    """Online with ``WANDB_MODE=online``, an API key, or inside a ``wandb agent`` run (the agent
    sets ``WANDB_SWEEP_ID``; its run lives on the server), unless ``WANDB_MODE`` says otherwise."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode:
        return mode == "online"
    return bool(os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_SWEEP_ID"))


class DQNWandbLogger(WandbLogger):
    """``WandbLogger`` that runs offline without an account and plots everything against frames.

    Inside a ``wandb agent`` run it joins the agent's run: ``wandb.init`` takes the run id, the sweep
    and the sweep's values from the agent's environment (``WANDB_RUN_ID``, ``WANDB_SWEEP_ID``,
    ``WANDB_SWEEP_PARAM_PATH``), and the project from ``WANDB_PROJECT`` unless ``project`` is set.

    Args:
        project: W&B project; unset: ``WANDB_PROJECT``, else ``lightning_dqn``.
        save_dir: Where W&B writes (``<save_dir>/wandb/``) and where run directories go
            (``<save_dir>/<project>/<run id>/`` with ``config.yaml``, ``checkpoints/``, ``videos/``).
        name: Run name; the CLI fills in ``<env>-<variant>-seed<seed>`` when unset.
        group: Run group; the CLI fills in ``<env>-<variant>`` (seeds of one variant group together).
        offline: ``None`` decides from the environment (see ``wandb_goes_online``).
        log_model: Upload checkpoints as W&B artifacts (``True``: at the end, ``"all"``: each save);
            online runs only.
        tags: Free-form tags.
        **kwargs: Passed to ``WandbLogger`` and on to ``wandb.init``.
    """

    def __init__(
        self,
        project: str | None = None,
        save_dir: str = "runs",
        name: str | None = None,
        group: str | None = None,
        offline: bool | None = None,
        log_model: bool | str = False,
        tags: list[str] | None = None,
        **kwargs: Any,
    ):
        if offline is None:
            offline = not wandb_goes_online()
        if offline and log_model:
            raise ConfigError(
                "trainer.logger.init_args.log_model",
                "uploads checkpoints and needs an online run (WANDB_API_KEY or WANDB_MODE=online); "
                "offline runs keep their checkpoints under runs/",
            )
        super().__init__(
            project=project or os.environ.get("WANDB_PROJECT") or "lightning_dqn",
            save_dir=save_dir,
            name=name,
            group=group,
            offline=offline,
            log_model=log_model,
            tags=tags,
            **kwargs,
        )
        self._frames_axis_defined = False

    @property
    def experiment(self):
        if self._experiment is None and self.save_dir:
            os.makedirs(self.save_dir, exist_ok=True)  # created with the run, not with the config
        run = super().experiment
        if not self._frames_axis_defined and hasattr(run, "define_metric"):
            run.define_metric("frames")
            run.define_metric("*", step_metric="frames")
            self._frames_axis_defined = True
        return run


def run_directory(trainer: pl.Trainer) -> str:
    """The directory of this run's own files: the logger's versioned directory, else the root dir.

    For W&B this is ``<save_dir>/<project>/<run id>``, the same place Lightning's ``ModelCheckpoint``
    puts ``checkpoints/``.
    """
    logger = trainer.logger
    if isinstance(logger, WandbLogger):
        return os.path.join(logger.save_dir or trainer.default_root_dir, str(logger.name), str(logger.version))
    if logger is not None and getattr(logger, "log_dir", None):
        return logger.log_dir
    return trainer.default_root_dir


def checkpoint_directory(trainer: pl.Trainer) -> str:
    """Where this run's checkpoints go: ``ModelCheckpoint``'s directory, else ``<run dir>/checkpoints``."""
    callback = trainer.checkpoint_callback
    if callback is not None and callback.dirpath:
        return callback.dirpath
    return os.path.join(run_directory(trainer), "checkpoints")


def git_state(directory: Path = PACKAGE_DIR) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding the code."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


__all__ = ["DQNWandbLogger", "checkpoint_directory", "git_state", "run_directory", "wandb_goes_online"]
