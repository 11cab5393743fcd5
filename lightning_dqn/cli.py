"""``python -m lightning_dqn fit|validate|test --config experiments/<name>.yaml``.

The only file that imports every part: the config's ``model:``, ``data:`` and ``trainer:`` sections
map one to one onto ``DQN``, ``DQNDataModule`` and ``Trainer``; env-dependent shapes are linked from
``data`` to ``model`` so they are never typed twice.
"""

from __future__ import annotations

import glob
import os
import shlex
import sys
from typing import NoReturn, Optional

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lightning_dqn.callbacks import (
    EvaluationVideoLogger,
    ExperienceLogger,
    FinalCheckpoint,
    GracefulInterruption,
    ProgressPrinter,
)
from lightning_dqn.callbacks.interruption import Interruption
from lightning_dqn.datamodule import DQNDataModule
from lightning_dqn.errors import ConfigError, NonFiniteLossError
from lightning_dqn.module import DQN
from lightning_dqn.tracking import git_state, run_directory


class OneLineErrorParser(LightningArgumentParser):
    """Reports a parse error (unknown key, wrong type) as one line instead of a page of usage."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        lines = [line.strip() for line in str(message).splitlines() if line.strip()]
        print(f"error: {' '.join(lines[:2])}", file=sys.stderr)
        sys.exit(2)


class RunConfigSaver(SaveConfigCallback):
    """Writes the resolved ``config.yaml`` into a ``fit`` run's directory, never over an earlier one.

    ``validate``/``test`` only read a checkpoint, so they write no config. Without a versioned
    logger every run shares ``default_root_dir``; a second run there is refused with one line.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.already_saved:
            return
        run_dir = run_directory(trainer)
        config_path = os.path.join(run_dir, self.config_filename)
        # Rank 0 looks and tells the others: a rank looking after rank 0 wrote would see its own run.
        exists = trainer.strategy.broadcast(trainer.is_global_zero and os.path.isfile(config_path))
        if not self.overwrite and exists:
            raise ConfigError(
                "trainer.logger",
                f"{config_path} belongs to an earlier run; use a logger (versioned run directories) "
                "or another trainer.default_root_dir",
            )
        if trainer.is_global_zero:
            os.makedirs(run_dir, exist_ok=True)
            with open(config_path, "w") as f:
                f.write(self.parser.dump(self.config, skip_none=False))
        self.already_saved = True
        if trainer.logger is not None:
            self.save_config(trainer, pl_module, stage)

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """The whole resolved config and the code's git state go to the logger (W&B's run config),
        so a run can be reproduced from the tracker alone."""
        resolved = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        trainer.logger.log_hyperparams({"cli": resolved, "git": git_state()})


class DQNCLI(LightningCLI):
    """LightningCLI with the data -> model links and this project's trainer defaults."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.obs_shape", "model.obs_shape", apply_on="instantiate")
        parser.link_arguments("data.n_actions", "model.n_actions", apply_on="instantiate")
        parser.link_arguments("data.updates_per_step", "model.updates_per_step", apply_on="parse")
        parser.add_argument(
            "--torch_threads",
            type=Optional[int],
            default=None,
            help="CPU threads torch may use (torch.set_num_threads); null keeps torch's default. Small "
            "MLPs gain nothing from more than 1, and on a busy 2-core machine 2 threads ran 3x slower.",
        )
        parser.add_argument(
            "--progress_every_seconds",
            type=Optional[float],
            default=30.0,
            help="When stdout is not a terminal (a SLURM log, nohup, a pipe; no progress bar), print "
            "'<frames>: done <n> episodes, mean reward <r>, eps <e>, speed <f> f/s' this often; null: never.",
        )

    def before_instantiate_classes(self) -> None:
        threads = self._get(self.config, "torch_threads")
        if threads is not None:
            if threads < 1:
                raise ConfigError("torch_threads", f"must be >= 1 or null, got {threads}")
            torch.set_num_threads(threads)
        self._check_updates_per_step()
        self._schedule_evaluation()
        self._print_progress()
        self._name_wandb_run()
        self._resolve_named_checkpoint()

    def _set(self, key: str, value) -> None:
        (self.config[self.subcommand] if self.subcommand else self.config)[key] = value

    def _check_updates_per_step(self) -> None:
        """With several updates per Lightning step, what Lightning counts in steps must still fit:
        its own gradient clipping is refused (the module clips), and a checkpoint every N optimizer
        steps is only looked for every K of them."""
        updates = self._get(self.config, "data.updates_per_step")
        if updates is None or updates <= 1:
            return
        if self._get(self.config, "trainer.gradient_clip_val"):
            raise ConfigError(
                "trainer.gradient_clip_val",
                f"Lightning's clipping does not run with data.updates_per_step > 1; set "
                f"model.gradient_clip_val: {self._get(self.config, 'trainer.gradient_clip_val')} instead",
            )
        if (self._get(self.config, "trainer.accumulate_grad_batches") or 1) != 1:
            raise ConfigError(
                "trainer.accumulate_grad_batches", "must be 1 with data.updates_per_step > 1 (each batch is one update)"
            )
        for callback in self._get(self.config, "trainer.callbacks") or []:
            every = getattr(callback, "init_args", {}).get("every_n_train_steps")
            if every and every % updates:
                raise ConfigError(
                    f"{callback.class_path.rsplit('.', 1)[-1]}.every_n_train_steps",
                    f"must be a multiple of data.updates_per_step ({updates}), got {every}",
                )

    def _schedule_evaluation(self) -> None:
        """``data.eval_every_frames`` becomes Lightning's validation interval, in Lightning steps
        (``frames_per_batch * updates_per_step`` frames each)."""
        every = self._get(self.config, "data.eval_every_frames")
        if every is None:
            return
        if every < 1:
            raise ConfigError("data.eval_every_frames", f"must be >= 1 or null, got {every}")
        frames_per_step = self._get(self.config, "data.frames_per_batch") * self._get(self.config, "data.updates_per_step")
        self._set("trainer.val_check_interval", max(1, round(every / frames_per_step)))
        self._set("trainer.check_val_every_n_epoch", None)

    def _print_progress(self) -> None:
        every = self._get(self.config, "progress_every_seconds")
        if every is not None and every <= 0:
            raise ConfigError("progress_every_seconds", f"must be > 0 or null, got {every}")
        if every is not None and not sys.stdout.isatty():
            self.trainer_defaults["callbacks"].append(ProgressPrinter(every))

    def _name_wandb_run(self) -> None:
        """W&B runs are named ``<env>-<variant>-seed<seed>`` and grouped by ``<env>-<variant>``,
        the variant being the config file's name, so a project page of many runs reads at a glance."""
        logger = self._get(self.config, "trainer.logger")
        if not (hasattr(logger, "class_path") and logger.class_path.endswith("DQNWandbLogger")):
            return
        configs = self._get(self.config, "config")
        variant = os.path.splitext(os.path.basename(str(configs[-1])))[0] if configs else "cli"
        env = str(self._get(self.config, "data.env_id")).replace("/", "-")
        seed = self._get(self.config, "seed_everything")
        args = logger.init_args
        if args.get("group") is None:
            args["group"] = f"{env}-{variant}"
        if args.get("name") is None:
            args["name"] = f"{env}-{variant}-seed{seed}"

    def _resolve_named_checkpoint(self) -> None:
        """``--ckpt_path best`` (or ``last``) means the newest such file under the runs directory."""
        if self.subcommand not in ("test", "validate"):
            return
        name = self._get(self.config, "ckpt_path")
        if name not in ("best", "last"):
            return
        logger = self._get(self.config, "trainer.logger")
        root = self._get(self.config, "trainer.default_root_dir") or "runs"
        if hasattr(logger, "init_args") and logger.init_args.get("save_dir"):
            root = logger.init_args["save_dir"]
        found = sorted(glob.glob(os.path.join(root, "**", f"{name}.ckpt"), recursive=True), key=os.path.getmtime)
        if not found:
            raise ConfigError("ckpt_path", f"no {name}.ckpt under {root}/; pass a checkpoint's path")
        print(f"Using {found[-1]}", flush=True)
        self._set("ckpt_path", found[-1])


def trainer_defaults(interruption: GracefulInterruption | None = None) -> dict:
    return {
        # frames, episodes, reward_100, fps and evaluation videos are always logged; last.ckpt holds the
        # run's end; a signal saves and exits non-zero
        "callbacks": [
            ExperienceLogger(),
            EvaluationVideoLogger(),
            FinalCheckpoint(),
            interruption or GracefulInterruption(),
        ],
        # validation plays whole episodes; the sanity check would play them before any training
        "num_sanity_val_steps": 0,
        # a progress bar written to a pipe floods the log file (ProgressPrinter prints lines instead)
        "enable_progress_bar": sys.stdout.isatty(),
        "default_root_dir": "runs",
    }


def resume_command(args: list[str], checkpoint: str) -> str:
    """The command that continues an interrupted run: its own arguments, ``--ckpt_path`` replaced.

    >>> resume_command(["fit", "--config", "a.yaml", "--ckpt_path", "old.ckpt"], "runs/x/last.ckpt")
    'python -m lightning_dqn fit --config a.yaml --ckpt_path runs/x/last.ckpt'
    """
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--ckpt_path":
            skip = True
        elif not arg.startswith("--ckpt_path="):
            kept.append(arg)
    return shlex.join(["python", "-m", "lightning_dqn", *kept, "--ckpt_path", checkpoint])


def interrupted_line(interruption: Interruption, args: list[str]) -> str:
    """What an interrupted run prints last: where it stopped, what it saved, how to go on."""
    where = f"Interrupted by {interruption.name} at frame {interruption.frames} (optimizer step {interruption.global_step})"
    if interruption.checkpoint is None:
        return f"{where}: nothing trained yet, no checkpoint written"
    return f"{where}: saved {interruption.checkpoint}; resume with: {resume_command(args, interruption.checkpoint)}"


def main(args: list[str] | None = None) -> None:
    """Entry point: a configuration mistake prints one line naming the field and exits with 2; a run
    that diverges (non-finite loss) prints one line and exits with 1; a run stopped by a signal
    saves ``last.ckpt``, prints one line with the resume command and exits with 128 + the signal's
    number (143 for SIGTERM, 130 for Ctrl-C)."""
    interruption = GracefulInterruption()
    try:
        DQNCLI(
            DQN,
            DQNDataModule,
            trainer_defaults=trainer_defaults(interruption),
            seed_everything_default=0,
            parser_class=OneLineErrorParser,
            save_config_callback=RunConfigSaver,
            auto_configure_optimizers=False,  # the optimizer is the module's Adam(lr): one place to set it
            args=args,
        )
    except SIGTERMException:
        stopped = interruption.interruption
        if stopped is None:
            raise
        if int(os.environ.get("RANK", 0)) == 0:
            print(interrupted_line(stopped, sys.argv[1:] if args is None else args), flush=True)
        sys.exit(stopped.exit_code)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - only a ConfigError is turned into a one-line message
        config_error = _config_error_in(err)
        if config_error is None:
            raise
        print(f"error: {config_error}", file=sys.stderr)
        sys.exit(2)


def _config_error_in(err: BaseException | None) -> ConfigError | None:
    """The ConfigError behind ``err``: jsonargparse wraps those raised while building callbacks."""
    while err is not None:
        if isinstance(err, ConfigError):
            return err
        err = err.__cause__ or err.__context__
    return None


__all__ = ["DQNCLI", "main"]
