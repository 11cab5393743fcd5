"""Any gymnasium id with Discrete actions trains by changing only ``data.env_id``."""

import math

import pytest

from conftest import make_trainer, model_for
from lightning_dqn import DQNDataModule, EpsilonSchedule, TargetNetworkSync
from lightning_dqn.errors import ConfigError


@pytest.mark.parametrize(
    ("env_id", "obs_shape", "n_actions"),
    [("Acrobot-v1", [6], 3), ("MountainCar-v0", [2], 3), ("Taxi-v4", [500], 6), ("CliffWalking-v1", [48], 4)],
)
def test_training_steps_on(env_id, obs_shape, n_actions, tmp_path):
    data = DQNDataModule(env_id=env_id, num_envs=2, buffer_size=200, replay_start_size=64, batch_size=16, seed=0)
    assert (data.obs_shape, data.n_actions) == (obs_shape, n_actions)
    trainer = make_trainer(tmp_path, [EpsilonSchedule(), TargetNetworkSync(every_frames=20)], max_steps=30)
    trainer.fit(model_for(data), datamodule=data)
    assert trainer.global_step == 30
    assert data.frames >= 64 + 30 and len(data.buffer) == min(data.frames, 200)
    assert math.isfinite(trainer.callback_metrics["loss"].item())


def test_tuple_observations_are_refused():
    with pytest.raises(ConfigError, match="data.env_id: 'Blackjack-v1' has a Tuple observation space"):
        DQNDataModule(env_id="Blackjack-v1")
