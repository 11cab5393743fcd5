"""MinAtar by id: registered on first use, channel-first bytes, the paper's network, a CLI run."""

import math
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import make_trainer, model_for
from lightning_dqn import DQN, DQNDataModule, EpsilonSchedule, TargetNetworkSync
from lightning_dqn.distributional import categorical_support
from lightning_dqn.envs.generic import make_env
from lightning_dqn.envs.minatar import register_minatar
from lightning_dqn.errors import ConfigError
from lightning_dqn.networks import MinAtarCNN
from test_cli import assert_one_line_config_error, only_run, run_cli

ROOT = Path(__file__).resolve().parents[1]
GAMES = {"Asterix": (4, 6, 5), "Breakout": (4, 6, 3), "Freeway": (7, 6, 3), "Seaquest": (10, 6, 6), "SpaceInvaders": (6, 6, 4)}


@pytest.mark.parametrize("game", sorted(GAMES))
def test_every_game_by_id_gives_channel_first_bytes(game):
    channels, full, minimal = GAMES[game]
    for version, n_actions in (("v0", full), ("v1", minimal)):
        env = make_env(f"MinAtar/{game}-{version}")
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.uint8 and obs.shape == (channels, 10, 10), (game, version)
        assert env.observation_space.shape == (channels, 10, 10) and env.action_space.n == n_actions
        raw = env.unwrapped.game.state()  # MinAtar's own bool (10, 10, C) grid
        np.testing.assert_array_equal(obs, np.moveaxis(raw, -1, 0).astype(np.uint8))
        env.close()


def test_same_seed_same_game():
    def play(seed):  # Asterix spawns its enemies and treasure from the game's seeded generator
        env = make_env("MinAtar/Asterix-v1")
        frames = [env.reset(seed=seed)[0]]
        frames += [env.step(i % 5)[0] for i in range(40)]
        return np.stack(frames)

    np.testing.assert_array_equal(play(3), play(3))
    assert not np.array_equal(play(3), play(4))


def test_time_limit_through_env_kwargs():
    env = make_env("MinAtar/Freeway-v0", {"max_episode_steps": 7})
    env.reset(seed=0)
    ends = [env.step(0)[2:4] for _ in range(7)]
    assert ends[-1] == (False, True) and all(end == (False, False) for end in ends[:-1])


def test_without_the_package_one_line_says_how_to_install(monkeypatch):
    monkeypatch.setattr(gym, "registry", {})  # as before any MinAtar id was registered
    monkeypatch.setitem(sys.modules, "minatar.gym", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"data.env_id: 'MinAtar/Pong-v0' needs the MinAtar package: pip install"):
        register_minatar("MinAtar/Pong-v0")


def test_unknown_minatar_game_names_the_field():
    with pytest.raises(ConfigError, match="data.env_id: gymnasium cannot make 'MinAtar/Pong-v0'"):
        make_env("MinAtar/Pong-v0")


def test_minatar_cnn_is_the_papers_network():
    net = MinAtarCNN((4, 10, 10), 6)
    # 3x3 conv, 16 channels (4*16*9 + 16), 1,024 features -> 128 (+128), 128 -> 6 (+6): 132,566 weights.
    assert sum(p.numel() for p in net.parameters()) == 592 + 1024 * 128 + 128 + 128 * 6 + 6
    grid = torch.randint(0, 2, (5, 4, 10, 10), dtype=torch.uint8)
    assert torch.equal(net(grid), net(grid.float()))  # the 0/1 bytes are read as they are, no /255


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("noisy", [False, True])
@pytest.mark.parametrize("distributional", [False, True])
def test_minatar_cnn_takes_every_head(dueling, noisy, distributional):
    support = categorical_support(-10.0, 10.0, 51) if distributional else None
    net = MinAtarCNN((7, 10, 10), 3, dueling=dueling, noisy=noisy, support=support)
    grid = torch.randint(0, 2, (2, 7, 10, 10), dtype=torch.uint8)
    assert net(grid).shape == (2, 3)
    assert net.logits(grid).shape == (2, 3, 51 if distributional else 1)


def test_minatar_cnn_refuses_vectors():
    with pytest.raises(ConfigError, match=r"model.network: minatar_cnn needs grids \(C, H, W\)"):
        DQN(obs_shape=(4,), n_actions=2, network="minatar_cnn")


def test_trains_with_bytes_in_the_replay_buffer(tmp_path):
    data = DQNDataModule(env_id="MinAtar/Breakout-v0", num_envs=2, buffer_size=300, replay_start_size=64, batch_size=16, seed=0)
    assert (data.obs_shape, data.n_actions) == ([4, 10, 10], 6)
    trainer = make_trainer(tmp_path, [EpsilonSchedule(), TargetNetworkSync(every_frames=20)], max_steps=30)
    trainer.fit(model_for(data, network="minatar_cnn", dueling=True), datamodule=data)
    assert trainer.global_step == 30 and math.isfinite(trainer.callback_metrics["loss"].item())
    stored = data.buffer.sample(8)
    assert stored["observation"].dtype == torch.uint8 and stored["observation"].shape == (8, 4, 10, 10)
    assert int(stored["observation"].max()) <= 1


@pytest.mark.parametrize("game", ["breakout", "space_invaders"])
def test_shipped_config_fits_and_tests_through_the_cli(game, tmp_path):
    config = str(ROOT / "experiments" / "minatar" / f"{game}.yaml")
    small = [
        "--config", config, "--data.buffer_size", "500", "--data.replay_start_size", "100",
        "--data.env_kwargs", "{max_episode_steps: 200}", "--data.eval_episodes", "2",
    ]
    fit = run_cli("fit", *small, "--trainer.max_steps", "40", "--trainer.log_every_n_steps", "10", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    run_dir, wandb_run = only_run(tmp_path)
    assert wandb_run.config["network"] == "minatar_cnn" and wandb_run.config["optimizer"] == "rmsprop"
    assert wandb_run.config["obs_shape"] == [4 if game == "breakout" else 6, 10, 10]
    assert all(math.isfinite(loss) for _, loss in wandb_run.column("loss"))
    assert [eps for _, eps in wandb_run.column("epsilon")][0] == 1.0  # still random play's epsilon at frame 110
    checkpoint = str(run_dir / "checkpoints" / "last.ckpt")
    test = run_cli("test", *small, "--trainer.logger", "false", "--ckpt_path", checkpoint, cwd=tmp_path)
    assert test.returncode == 0, test.stderr[-3000:]
    assert "test/return_mean" in test.stdout


def test_bad_minatar_id_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    assert_one_line_config_error(["fit", "--data.env_id", "MinAtar/Tetris-v0"], "data.env_id", tmp_path, capsys, monkeypatch)

