"""Every combination of the module's six switches (Rainbow's parts) trains; the target network never does."""

import itertools

import pytest
import torch
from tensordict import TensorDict

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import DQN, EpsilonSchedule
from lightning_dqn.errors import ConfigError


SWITCHES = ("double_q", "dueling", "n_step", "prioritized", "noisy", "distributional")
COMBINATIONS = [dict(zip(SWITCHES, values)) for values in itertools.product([False, True], repeat=len(SWITCHES))]


def _name(switches: dict) -> str:
    return "+".join(k for k, on in switches.items() if on) or "dqn"


def _model_switches(switches: dict, index: int) -> dict:
    return dict(
        double_q=switches["double_q"], dueling=switches["dueling"], noisy=switches["noisy"],
        distributional=switches["distributional"], atoms=11, v_min=-1.0, v_max=1.0,
        loss="huber" if index % 2 else "mse",  # both losses, across the combinations
    )  # fmt: skip


@pytest.mark.parametrize("index", range(len(COMBINATIONS)), ids=[_name(c) for c in COMBINATIONS])
def test_every_combination_of_the_six_switches_trains_and_its_checkpoint_loads(index, tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    from lightning_dqn import DQN

    switches = COMBINATIONS[index]
    data = nonslippery_data(replay_start_size=32, n_step=3 if switches["n_step"] else 1, prioritized=switches["prioritized"])
    model = model_for(data, **_model_switches(switches, index))
    online_before = [p.clone() for p in model.q_net.parameters()]
    target_before = [p.clone() for p in model.target_net.parameters()]
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=5)
    trainer = make_trainer(tmp_path, [EpsilonSchedule(), checkpoints], max_steps=5, log_every_n_steps=5)
    trainer.fit(model, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["loss"])
    assert not all(torch.equal(a, b) for a, b in zip(online_before, model.q_net.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(target_before, model.target_net.parameters()))

    loaded = DQN.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt").eval()
    obs = torch.eye(16)
    q = loaded(obs)
    assert q.shape == (16, 4) and torch.equal(q, model.eval()(obs)), "the checkpoint acts as the trained net"


def _atari_batch(batch_size: int, n_step: int, prioritized: bool) -> TensorDict:
    frames = lambda: torch.randint(0, 256, (batch_size, 4, 84, 84), dtype=torch.uint8)  # noqa: E731
    reward = torch.randn(batch_size, n_step) if n_step > 1 else torch.randn(batch_size)
    batch = TensorDict(
        {"observation": frames(), "action": torch.randint(0, 6, (batch_size,)),
         "next": {"observation": frames(), "reward": reward, "terminated": torch.rand(batch_size) < 0.3,
                  "steps": torch.full((batch_size,), n_step)}},
        batch_size=[batch_size],
    )  # fmt: skip
    if prioritized:
        batch["priority_weight"] = torch.rand(batch_size)
    return batch


@pytest.mark.parametrize("index", range(len(COMBINATIONS)), ids=[_name(c) for c in COMBINATIONS])
def test_every_combination_takes_a_step_on_an_atari_shaped_batch(index):
    switches = COMBINATIONS[index]
    model = DQN(obs_shape=(4, 84, 84), n_actions=6, network="nature_cnn", **_model_switches(switches, index))
    batch = _atari_batch(4, 3 if switches["n_step"] else 1, switches["prioritized"])
    loss, q_sa, error = model.loss_terms(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert q_sa.shape == error.shape == (4,) and (error >= 0).all()
    loss.backward()
    assert all(p.grad is not None for p in model.q_net.parameters()), "every online parameter gets a gradient"
    assert all(p.grad is None for p in model.target_net.parameters())


def test_optimizer_holds_only_the_online_network():
    data = nonslippery_data()
    model = model_for(data)
    optimizer = model.configure_optimizers()
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.q_net.parameters()}


@pytest.mark.parametrize(
    "precision, clip, updates_per_step",
    [("32-true", 1e-4, 1), ("bf16-mixed", 1e-4, 1), ("bf16-mixed", 1e-4, 2), ("bf16-mixed", None, 1)],
)
def test_bf16_clips_the_fused_optimizers_gradients(precision, clip, updates_per_step, tmp_path):
    # Lightning's mixed-precision plugin refuses to clip a fused optimizer's gradients (fp16's loss
    # scaler would leave them scaled); bf16 has no scaler, so the module clips them itself and keeps
    # the fused Adam, with trainer.gradient_clip_val (one update per step) and model.gradient_clip_val.
    # The last update's gradients are left in place: their norm shows the clip happened.
    data = nonslippery_data(updates_per_step=updates_per_step)
    model = model_for(data, updates_per_step=updates_per_step, gradient_clip_val=clip if updates_per_step > 1 else None)
    trainer = make_trainer(tmp_path, max_steps=30, precision=precision,
                           gradient_clip_val=clip if updates_per_step == 1 else None)
    before = [p.detach().clone() for p in model.q_net.parameters()]
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == 30 and trainer.optimizers[0].defaults["fused"]
    assert all(torch.isfinite(p).all() and not torch.equal(p, b) for p, b in zip(model.q_net.parameters(), before))
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.q_net.parameters()]))
    assert norm <= 1.001e-4 if clip else norm > 1e-3


def test_rmsprop_is_minatars_centered_rmsprop():
    """``model.optimizer: rmsprop`` with its constants: one step equals the centered RMSProp formula."""
    model = model_for(nonslippery_data(), optimizer="rmsprop", lr=2.5e-4)
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert {k: optimizer.defaults[k] for k in ("lr", "alpha", "eps", "centered")} == {
        "lr": 2.5e-4, "alpha": 0.95, "eps": 0.01, "centered": True,
    }
    weight = next(model.q_net.parameters())
    before = weight.detach().clone()
    grad = torch.randn_like(weight)
    weight.grad = grad.clone()
    optimizer.step()
    square_avg, grad_avg = 0.05 * grad**2, 0.05 * grad  # first step: (1 - alpha) * g^2 and (1 - alpha) * g
    expected = before - 2.5e-4 * grad / ((square_avg - grad_avg**2).sqrt() + 0.01)
    torch.testing.assert_close(weight.detach(), expected)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"lr": 0.0}, "model.lr"), ({"gamma": 0.0}, "model.gamma"), ({"loss": "l2"}, "model.loss"),
     ({"hidden_sizes": [0]}, "model.hidden_sizes"), ({"adam_eps": 0.0}, "model.adam_eps"),
     ({"optimizer": "sgd"}, "model.optimizer"), ({"rmsprop_alpha": 1.0}, "model.rmsprop_alpha"),
     ({"rmsprop_eps": 0.0}, "model.rmsprop_eps"),
     ({"noisy_sigma0": -0.1}, "model.noisy_sigma0"), ({"distributional": True, "atoms": 1}, "model.atoms"),
     ({"distributional": True, "v_min": 10.0, "v_max": 10.0}, "model.v_min")],
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
