"""Shared builders: a real Trainer on a real datamodule, small enough for CI's two cores."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger

from lightning_dqn import DQN, DQNDataModule, ExperienceLogger


def nonslippery_data(**overrides) -> DQNDataModule:
    kwargs = dict(
        env_id="FrozenLake-v1",
        env_kwargs={"is_slippery": False},
        buffer_size=500,
        replay_start_size=100,
        batch_size=16,
        eval_episodes=5,
        seed=0,
    )
    kwargs.update(overrides)
    return DQNDataModule(**kwargs)


def model_for(data: DQNDataModule, cls=DQN, **overrides) -> DQN:
    kwargs = dict(gamma=0.9, lr=1e-3)
    kwargs.update(overrides)
    return cls(obs_shape=data.obs_shape, n_actions=data.n_actions, **kwargs)


def make_trainer(tmp_path, callbacks=(), max_steps=200, log_every_n_steps=10, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=tmp_path,
        max_steps=max_steps,
        logger=CSVLogger(tmp_path, name="run"),
        callbacks=[ExperienceLogger(), *callbacks],
        log_every_n_steps=log_every_n_steps,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kwargs,
    )


# One torch thread, as the CLI configs set (torch_threads: 1). With torch's default of one per core,
# its OpenMP threads spin against anything else on the machine: an in-process CartPole test took
# 236 s for 1,300 updates beside a busy core, against 10 s with one thread. Subprocess runs get it
# from their configs.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    pl.seed_everything(0, verbose=False)
