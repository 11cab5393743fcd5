"""Every shipped config builds: its model, datamodule (envs probed) and Trainer, as ``fit`` would."""

import sys
from pathlib import Path

import pytest

from lightning_dqn import DQN, DQNDataModule
from lightning_dqn.cli import DQNCLI, RunConfigSaver, trainer_defaults

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "experiments").glob("*.yaml")) + sorted((ROOT / "experiments" / "minatar").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: str(path.relative_to(ROOT / "experiments")))
def test_every_shipped_config_builds(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    args = ["--config", str(config), "--trainer.logger", "false"]
    cli = DQNCLI(DQN, DQNDataModule, trainer_defaults=trainer_defaults(), save_config_callback=RunConfigSaver,
                 auto_configure_optimizers=False, run=False, args=args)  # fmt: skip
    data = cli.datamodule
    assert list(cli.model.hparams.obs_shape) == data.obs_shape and cli.model.hparams.n_actions == data.n_actions
    assert cli.model.hparams.updates_per_step == data.hparams.updates_per_step
    assert cli.trainer.max_steps > 0
