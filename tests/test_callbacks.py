"""Epsilon, target sync and reward bound, each in a real Trainer run on a real env."""

import csv

import pytest
import torch

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import DQN, DQNDataModule, EpsilonSchedule, RewardBound, TargetNetworkSync
from lightning_dqn.callbacks import linear_epsilon
from lightning_dqn.errors import ConfigError


@pytest.mark.parametrize(
    ("frame", "start", "final", "decay", "expected"),
    [
        (0, 1.0, 0.0, 100_000, 1.0),  # FrozenLake seed
        (50_000, 1.0, 0.0, 100_000, 0.5),
        (100_000, 1.0, 0.0, 100_000, 0.0),
        (132_361, 1.0, 0.0, 100_000, 0.0),
        (97_000, 1.0, 0.02, 100_000, 0.03),  # Pong seed
        (98_000, 1.0, 0.02, 100_000, 0.02),
        (500_000, 1.0, 0.02, 100_000, 0.02),
    ],
)
def test_linear_epsilon_is_the_seed_formula(frame, start, final, decay, expected):
    assert linear_epsilon(frame, start, final, decay) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [(0, 1.0), (4_999, 1.0), (5_000, 1.0), (16_111, 0.9), (105_000, 0.1), (105_001, 0.1), (10**6, 0.1)],
)
def test_linear_epsilon_waits_for_begin_frame(frame, expected):
    """MinAtar's: 1 -> 0.1 over the 100,000 frames after 5,000 of random play."""
    assert linear_epsilon(frame, 1.0, 0.1, 111_111, begin_frame=5_000) == pytest.approx(expected, abs=1e-5)


def read_metrics(trainer):
    with open(f"{trainer.logger.log_dir}/metrics.csv") as f:
        return [row for row in csv.DictReader(f)]


def test_epsilon_follows_the_frame_counter_during_training(tmp_path):
    data = nonslippery_data()
    schedule = EpsilonSchedule(start=1.0, final=0.1, decay_frames=200)
    trainer = make_trainer(tmp_path, [schedule], max_steps=150, log_every_n_steps=10)
    trainer.fit(model_for(data), datamodule=data)
    assert data.epsilon == pytest.approx(schedule.value_at(data.frames))
    rows = [r for r in read_metrics(trainer) if r.get("epsilon")]
    assert len(rows) == 15
    for row in rows:
        assert float(row["epsilon"]) == pytest.approx(max(0.1, 1.0 - float(row["frames"]) / 200), abs=1e-6)
    assert float(rows[-1]["epsilon"]) == pytest.approx(0.1)


class SyncSpy(DQN):
    """The real module, noting the frame of every target sync."""

    sync_frames: list

    def sync_target(self, tau=1.0):
        super().sync_target(tau)
        self.sync_frames.append(self.trainer.datamodule.frames)
        if tau == 1.0:
            for t, o in zip(self.target_net.parameters(), self.q_net.parameters()):
                assert torch.equal(t, o)


def test_hard_target_sync_every_n_frames(tmp_path):
    data = nonslippery_data(replay_start_size=100)
    model = model_for(data, cls=SyncSpy)
    model.sync_frames = []
    trainer = make_trainer(tmp_path, [EpsilonSchedule(), TargetNetworkSync(every_frames=50)], max_steps=300)
    trainer.fit(model, datamodule=data)
    # 100 frames of warm-up cross the sync at frame 100, done after the first update (Lightning has
    # prefetched one batch by then: frame 102); then exactly every 50 frames up to frame 400.
    assert model.sync_frames == [102, *range(150, 401, 50)]


def test_target_lags_between_syncs_and_never_trains(tmp_path):
    data = nonslippery_data()
    model = model_for(data)
    assert all(not p.requires_grad for p in model.target_net.parameters())
    before = [p.clone() for p in model.target_net.parameters()]
    trainer = make_trainer(tmp_path, [EpsilonSchedule()], max_steps=50)  # no sync callback
    trainer.fit(model, datamodule=data)
    assert all(torch.equal(b, p) for b, p in zip(before, model.target_net.parameters()))
    assert not all(torch.equal(b, p) for b, p in zip(before, model.q_net.parameters()))


def test_soft_update_mixes_weights_by_tau():
    model = DQN(obs_shape=(3,), n_actions=2, hidden_sizes=[4])
    for p in model.q_net.parameters():
        torch.nn.init.constant_(p, 1.0)
    for p in model.target_net.parameters():
        torch.nn.init.constant_(p, 3.0)
    model.sync_target(tau=0.25)
    assert all(torch.allclose(p, torch.full_like(p, 2.5)) for p in model.target_net.parameters())


def test_reward_bound_stops_after_min_episodes_and_prints_solved(tmp_path, capsys):
    data = nonslippery_data()
    bound = RewardBound(bound=0.0, min_episodes=5)  # any mean reaches 0: stop at the 5th episode
    trainer = make_trainer(tmp_path, [EpsilonSchedule(), bound], max_steps=5000)
    trainer.fit(model_for(data), datamodule=data)
    assert data.episodes == 5 or (data.episodes > 5 and trainer.global_step == 1)  # warm-up may hold more
    assert trainer.global_step < 5000
    assert f"Solved in {data.frames} frames!" in capsys.readouterr().out
    assert bound.solved_at_frame == data.frames


def test_reward_bound_saves_the_best_model_and_solves_the_lake(tmp_path, capsys):
    data = nonslippery_data()
    bound = RewardBound(bound=0.95)
    callbacks = [EpsilonSchedule(1.0, 0.0, 3000), TargetNetworkSync(every_frames=50), bound]
    trainer = make_trainer(tmp_path, callbacks, max_steps=20_000)
    trainer.fit(model_for(data), datamodule=data)
    out = capsys.readouterr().out
    assert trainer.global_step < 20_000 and data.mean_return >= 0.95
    assert "Best mean reward updated 0.000 -> " in out and ", model saved" in out
    assert bound.best_mean == pytest.approx(data.mean_return)
    assert bound.best_model_path.endswith("best.ckpt")
    best = DQN.load_from_checkpoint(bound.best_model_path)
    assert torch.equal(best.q_net.body[1].weight, trainer.lightning_module.q_net.body[1].weight)


def test_callback_arguments_are_checked():
    with pytest.raises(ConfigError, match="EpsilonSchedule.final"):
        EpsilonSchedule(start=0.5, final=0.9)
    with pytest.raises(ConfigError, match="EpsilonSchedule.begin_frame: must be >= 0"):
        EpsilonSchedule(begin_frame=-1)
    with pytest.raises(ConfigError, match="TargetNetworkSync.tau"):
        TargetNetworkSync(tau=0.0)
    with pytest.raises(ConfigError, match="RewardBound.min_episodes"):
        RewardBound(bound=1.0, min_episodes=0)
