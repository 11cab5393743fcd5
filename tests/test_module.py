"""Every combination of the module's switches trains; the target network never does."""

import itertools

import pytest
import torch

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import EpsilonSchedule
from lightning_dqn.errors import ConfigError


@pytest.mark.parametrize(
    ("loss", "double_q", "dueling", "n_step"), list(itertools.product(["mse", "huber"], [False, True], [False, True], [1, 3]))
)
def test_switch_combination_trains(loss, double_q, dueling, n_step, tmp_path):
    data = nonslippery_data(replay_start_size=32, n_step=n_step)
    model = model_for(data, loss=loss, double_q=double_q, dueling=dueling)
    online_before = [p.clone() for p in model.q_net.parameters()]
    target_before = [p.clone() for p in model.target_net.parameters()]
    trainer = make_trainer(tmp_path, [EpsilonSchedule()], max_steps=10, log_every_n_steps=5)
    trainer.fit(model, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["loss"])
    assert not all(torch.equal(a, b) for a, b in zip(online_before, model.q_net.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(target_before, model.target_net.parameters()))


def test_optimizer_holds_only_the_online_network():
    data = nonslippery_data()
    model = model_for(data)
    optimizer = model.configure_optimizers()
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.q_net.parameters()}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"lr": 0.0}, "model.lr"), ({"gamma": 0.0}, "model.gamma"), ({"loss": "l2"}, "model.loss"),
     ({"hidden_sizes": [0]}, "model.hidden_sizes")],
)
def test_bad_module_arguments(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        model_for(nonslippery_data(), **kwargs)


def test_divergence_stops_the_run_and_leaves_only_finite_checkpoints(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    from lightning_dqn import DQN
    from lightning_dqn.errors import NonFiniteLossError

    data = nonslippery_data(replay_start_size=32)
    model = model_for(data, lr=1e10)  # Adam steps of 1e10: the loss overflows within a few steps
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_last=True)
    trainer = make_trainer(tmp_path, [EpsilonSchedule(), checkpoints], max_steps=200)
    with pytest.raises(NonFiniteLossError, match="training diverged"):
        trainer.fit(model, datamodule=data)
    assert trainer.global_step < 200
    last = DQN.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert all(torch.isfinite(p).all() for p in last.q_net.parameters())
