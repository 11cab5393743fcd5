"""W&B tracking offline, evaluation during training, and evaluation videos, read back from what was written."""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import EpsilonSchedule, RewardBound, TargetNetworkSync
from lightning_dqn.tracking import DQNWandbLogger, git_state, wandb_goes_online
from test_cli import only_run, run_cli

CARTPOLE = str(Path(__file__).resolve().parents[1] / "experiments" / "cartpole.yaml")
RIGHT = 2


def test_offline_run_holds_config_frame_axis_evaluation_and_video(tmp_path):
    fit = run_cli(
        "fit", "--config", CARTPOLE, "--trainer.max_steps", "600", "--data.replay_start_size", "200",
        "--data.eval_every_frames", "1000", "--data.eval_episodes", "2", "--data.record_video", "true",
        "--trainer.log_every_n_steps", "25", "--model.lr", "0.0007",
        cwd=tmp_path,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    run_dir, run = only_run(tmp_path)
    assert (run.name, run.group) == ("CartPole-v1-cartpole-seed0", "CartPole-v1-cartpole")

    # The resolved config, as the CLI resolved it (a command-line override included), and the code's state.
    assert run.config["cli"]["model"]["lr"] == 0.0007 and run.config["cli"]["data"]["env_id"] == "CartPole-v1"
    assert run.config["cli"]["trainer"]["callbacks"][0]["init_args"]["decay_frames"] == 10000
    assert run.config["git"] == git_state() or run.config["git"]["commit"] is None

    # Every metric is plotted against frames, and every row carries frames.
    assert run.metric_steps == {"*": "frames"}
    metrics = set().union(*run.history)
    assert {"frames", "episodes", "reward_100", "epsilon", "loss", "q_mean", "fps"} <= metrics
    assert {"episode/return", "episode/length"} <= metrics
    assert all("frames" in row for row in run.history)
    episodes = run.column("episode/return")
    assert len(episodes) >= 20 and all(length >= 8 for _, length in run.column("episode/length"))

    # Evaluation every 1,000 frames (500 optimizer steps at 4 frames per step: at steps 250 and 500).
    evaluations = run.column("eval/return_mean")
    assert [frames for frames, _ in evaluations] == [200 + 250 * 4 + 4, 200 + 500 * 4 + 4]
    assert {"eval/return_std", "eval/length_mean"} <= metrics

    # One video per evaluation, kept in the run directory and logged to W&B.
    videos = sorted((run_dir / "videos").glob("eval-*.mp4"))
    assert len(videos) == 2 and all(v.stat().st_size > 1000 for v in videos)
    logged = [row for row in run.history if row.get("eval/video._type") == "video-file"]
    assert len(logged) == 2

    test = run_cli("test", "--config", CARTPOLE, "--ckpt_path", "best", "--trainer.logger", "false", cwd=tmp_path)
    assert test.returncode == 0, test.stderr[-3000:]
    assert f"Using {Path('runs') / 'lightning_dqn' / run_dir.name / 'checkpoints' / 'best.ckpt'}" in test.stdout
    for stat in ("mean", "std", "min", "max"):
        assert f"test/return_{stat}" in test.stdout


def test_wandb_goes_online_only_when_configured(monkeypatch, tmp_path):
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(key, raising=False)
    assert not wandb_goes_online()
    assert DQNWandbLogger(save_dir=str(tmp_path))._offline
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_goes_online()
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert not wandb_goes_online()
    monkeypatch.setenv("WANDB_MODE", "online")
    assert wandb_goes_online() and not DQNWandbLogger(save_dir=str(tmp_path))._offline


class AlwaysRight(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([0.0, 0.0, 1.0, 0.0]))

    def forward(self, obs):
        return self.bias.expand(len(obs), 4)


def test_evaluation_is_greedy_on_its_own_env_and_leaves_training_alone(tmp_path):
    data = nonslippery_data(eval_episodes=4, eval_epsilon=0.0)
    model = model_for(data)
    trainer = make_trainer(tmp_path, [EpsilonSchedule(1.0, 0.1, 500)], max_steps=50)
    trainer.fit(model, datamodule=data)
    before = (data.frames, data.episodes, len(data.buffer), data.epsilon, data.agent.rng.bit_generator.state)
    stored = data.buffer[:]
    model.q_net = AlwaysRight()  # on the deterministic lake: along the top row into the wall, never a hole
    (result,) = trainer.validate(model, datamodule=data, verbose=False)
    assert result["eval/length_mean"] == 100.0 and result["eval/return_mean"] == 0.0  # every step greedy
    assert data._episodes.env not in data.agent.env.envs
    after = (data.frames, data.episodes, len(data.buffer), data.epsilon, data.agent.rng.bit_generator.state)
    assert after == before
    assert all(torch.equal(a, b) for a, b in zip(data.buffer[:].values(True, True), stored.values(True, True)))

    data.hparams.eval_epsilon = 0.5  # the same evaluation with exploration does not walk into the wall
    (explored,) = trainer.validate(model, datamodule=data, verbose=False)
    assert explored["eval/length_mean"] < 100.0


def test_reward_bound_can_stop_on_the_evaluation_mean(tmp_path):
    data = nonslippery_data(replay_start_size=500, eval_episodes=5)
    bound = RewardBound(bound=1.0, monitor="eval")
    callbacks = [EpsilonSchedule(1.0, 0.0, 3000), TargetNetworkSync(every_frames=50), bound]
    trainer = make_trainer(tmp_path, callbacks, max_steps=15_000, val_check_interval=250, check_val_every_n_epoch=None)
    trainer.fit(model_for(data), datamodule=data)
    assert trainer.global_step < 15_000 and trainer.global_step % 250 == 0
    assert trainer.callback_metrics["eval/return_mean"] == 1.0
    assert bound.solved_at_frame == data.frames
    assert np.isfinite(data.mean_return)
