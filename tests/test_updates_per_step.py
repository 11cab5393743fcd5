"""Several updates per Lightning step (``data.updates_per_step``): the same schedules, counted per update."""

import sys

import pytest
import pytorch_lightning as pl
import torch

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import DQN
from lightning_dqn.callbacks import EpsilonSchedule, RewardBound, TargetNetworkSync
from lightning_dqn.direct_updates import can_update_directly
from lightning_dqn.errors import ConfigError
from test_cli import NONSLIPPERY, assert_one_line_config_error


class UpdateRecorder(pl.Callback):
    """After every update (the module's own loop calls ``on_update_end``): the frame count, the
    epsilon the agent will act with next, and the global step."""

    def __init__(self):
        self.updates = []

    def on_update_end(self, trainer, pl_module):
        data = trainer.datamodule
        self.updates.append((data.frames, data.epsilon, trainer.global_step))


class SyncSpy(DQN):
    """The real module, noting the frame of every target sync."""

    def sync_target(self, tau=1.0):
        super().sync_target(tau)
        self.sync_frames.append(self.trainer.datamodule.frames)


def test_one_update_per_step_is_lightnings_automatic_optimization():
    assert DQN().automatic_optimization
    assert not DQN(updates_per_step=4).automatic_optimization


def test_k_updates_count_in_global_step_and_stop_exactly_at_max_steps(tmp_path):
    data = nonslippery_data(updates_per_step=4, frames_per_batch=2)
    model = model_for(data, updates_per_step=4)
    trainer = make_trainer(tmp_path, [EpsilonSchedule()], max_steps=102)
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == 102  # not a multiple of 4: the last Lightning step makes 2 updates
    assert trainer.fit_loop.epoch_loop.batch_progress.total.completed == 26  # Lightning steps: ceil(102 / 4)
    assert data.frames == 100 + 102 * 2  # warm-up, then frames_per_batch before every update


def test_epsilon_and_target_syncs_follow_every_update(tmp_path):
    data = nonslippery_data(replay_start_size=100, updates_per_step=8)
    model = model_for(data, cls=SyncSpy, updates_per_step=8)
    model.sync_frames = []
    schedule = EpsilonSchedule(start=1.0, final=0.1, decay_frames=200)
    recorder = UpdateRecorder()
    trainer = make_trainer(tmp_path, [schedule, TargetNetworkSync(every_frames=50), recorder], max_steps=300)
    trainer.fit(model, datamodule=data)
    assert [step for _, _, step in recorder.updates] == list(range(1, 301))
    for frames, epsilon, _ in recorder.updates:
        assert epsilon == pytest.approx(schedule.value_at(frames))
    # Each batch is played just before its update (no prefetch inside a step): the sync due at frame
    # 100 comes after the first update, at frame 101, then exactly every 50 frames, as with K = 1.
    assert model.sync_frames == [101, *range(150, 401, 50)]


def test_prioritized_noisy_rainbow_updates_every_priority_and_noise(tmp_path):
    data = nonslippery_data(
        updates_per_step=4, prioritized=True, n_step=3, priority_beta_frames=1000, replay_start_size=100
    )
    model = model_for(data, updates_per_step=4, noisy=True, distributional=True, v_min=0.0, v_max=1.0)
    layer = next(m for m in model.q_net.modules() if hasattr(m, "weight_epsilon"))
    noise = []  # the noise each acting forward pass sees (one frame is played before every update)
    model.q_net.register_forward_pre_hook(lambda module, args: noise.append(layer.weight_epsilon.clone()))
    trainer = make_trainer(tmp_path, [EpsilonSchedule(0.0, 0.0)], max_steps=40)
    trainer.fit(model, datamodule=data)
    sampling = data._prioritized
    # every trained batch but the last has had its priorities applied (or dropped as overwritten)
    assert sampling.updated + sampling.skipped == (40 - 1) * 16
    assert sampling.updated > 0
    # fresh noise after every update: the 40 frames played before the 40 updates all saw different noise
    distinct = {tuple(e.flatten()[:8].tolist()) for e in noise}
    assert len(distinct) >= 40


def test_several_updates_per_step_solve_the_lake(tmp_path, capsys):
    data = nonslippery_data(updates_per_step=4)
    callbacks = [EpsilonSchedule(1.0, 0.0, 3000), TargetNetworkSync(every_frames=50), RewardBound(bound=0.95)]
    trainer = make_trainer(tmp_path, callbacks, max_steps=20_000)
    trainer.fit(model_for(data, updates_per_step=4), datamodule=data)
    assert trainer.global_step < 20_000 and data.mean_return >= 0.95
    assert f"Solved in {data.frames} frames!" in capsys.readouterr().out


def test_a_resumed_run_goes_on_counting_updates(tmp_path):
    data = nonslippery_data(updates_per_step=4)
    trainer = make_trainer(tmp_path, [EpsilonSchedule()], max_steps=40)
    trainer.fit(model_for(data, updates_per_step=4), datamodule=data)
    trainer.save_checkpoint(tmp_path / "mid.ckpt")
    frames = data.frames

    data = nonslippery_data(updates_per_step=4)
    trainer = make_trainer(tmp_path, [EpsilonSchedule()], max_steps=80)
    trainer.fit(model_for(data, updates_per_step=4), datamodule=data, ckpt_path=tmp_path / "mid.ckpt")
    assert trainer.global_step == 80
    assert data.frames == frames + 40


def test_clipping_in_the_module_loop_bounds_the_gradient(tmp_path):
    data = nonslippery_data(updates_per_step=2)
    model = model_for(data, updates_per_step=2, gradient_clip_val=1e-3)
    norms = []
    step = torch.optim.Adam.step

    def record(optimizer, *args, **kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        return step(optimizer, *args, **kwargs)

    torch.optim.Adam.step = record
    try:
        make_trainer(tmp_path, [EpsilonSchedule()], max_steps=20).fit(model, datamodule=data)
    finally:
        torch.optim.Adam.step = step
    assert len(norms) == 20 and max(norms) <= 1e-3 * (1 + 1e-4)


class BackwardCounter(pl.Callback):
    """A callback that watches every backward: the module must then update through Lightning."""

    def __init__(self):
        self.backwards = 0

    def on_after_backward(self, trainer, pl_module):
        self.backwards += 1


def test_direct_updates_give_lightnings_weights_bit_for_bit(tmp_path):
    weights, counter = {}, BackwardCounter()
    for path, extra in (("direct", []), ("lightning", [counter])):
        pl.seed_everything(0, verbose=False)
        data = nonslippery_data(updates_per_step=4, prioritized=True, n_step=3)
        model = model_for(data, updates_per_step=4, gradient_clip_val=0.5, noisy=True)
        callbacks = [EpsilonSchedule(), TargetNetworkSync(every_frames=1, tau=0.1), *extra]
        trainer = make_trainer(tmp_path / path, callbacks, max_steps=50)
        assert can_update_directly(trainer, model) == (path == "direct")
        initial = model.q_net.body[1].weight.detach().clone()
        trainer.fit(model, datamodule=data)
        assert trainer.global_step == 50
        assert model._direct_updates == (path == "direct")  # the path the fit took
        weights[path] = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert counter.backwards == 50  # Lightning's path ran every hook of every update
    assert weights["direct"].keys() == weights["lightning"].keys()
    for name, tensor in weights["direct"].items():
        assert torch.equal(tensor, weights["lightning"][name]), name
    assert not torch.equal(weights["direct"]["q_net.body.1.weight"], initial)  # it learned


def test_direct_updates_only_where_they_are_lightnings_arithmetic(tmp_path):
    model = DQN(updates_per_step=2)
    assert can_update_directly(make_trainer(tmp_path), model)
    assert not can_update_directly(make_trainer(tmp_path, precision="bf16-mixed"), model)

    class WatchesGradients(DQN):
        def on_before_optimizer_step(self, optimizer):
            pass

    assert not can_update_directly(make_trainer(tmp_path), WatchesGradients(updates_per_step=2))


def test_model_arguments_are_checked():
    with pytest.raises(ConfigError, match="model.updates_per_step"):
        DQN(updates_per_step=0)
    with pytest.raises(ConfigError, match="model.gradient_clip_val"):
        DQN(gradient_clip_val=10.0)  # with one update per step, Lightning's trainer.gradient_clip_val clips


@pytest.mark.parametrize(
    "args, field",
    [
        (["--data.updates_per_step", "0"], "data.updates_per_step"),
        (["--data.updates_per_step", "4", "--trainer.gradient_clip_val", "10"], "trainer.gradient_clip_val"),
        (["--data.updates_per_step", "3"], "ModelCheckpoint.every_n_train_steps"),  # every 2,000 steps
        (["--data.updates_per_step", "2", "--trainer.accumulate_grad_batches", "2"], "trainer.accumulate_grad_batches"),
    ],
)
def test_cli_mistakes_are_one_line(args, field, tmp_path, capsys, monkeypatch):
    assert_one_line_config_error(["fit", "--config", NONSLIPPERY, *args], field, tmp_path, capsys, monkeypatch)


def test_cli_links_updates_per_step_and_evaluates_on_frames(tmp_path, monkeypatch):
    from lightning_dqn.cli import DQNCLI, RunConfigSaver, trainer_defaults
    from lightning_dqn.datamodule import DQNDataModule

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    args = ["--config", NONSLIPPERY, "--data.updates_per_step", "4", "--data.eval_every_frames", "1000",
            "--trainer.logger", "false"]
    cli = DQNCLI(DQN, DQNDataModule, trainer_defaults=trainer_defaults(), save_config_callback=RunConfigSaver,
                 auto_configure_optimizers=False, run=False, args=args)
    assert cli.model.hparams.updates_per_step == 4 and not cli.model.automatic_optimization
    assert can_update_directly(cli.trainer, cli.model)  # none of the CLI's callbacks watches gradients
    assert cli.trainer.val_check_interval == 250  # Lightning steps: 1,000 frames / (1 frame x 4 updates)
