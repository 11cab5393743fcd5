"""Pong through the command line: a short real training run, and Atari config mistakes."""

import math
from pathlib import Path

import pytest

from test_cli import assert_one_line_config_error, only_run, run_cli

PONG_FAST = str(Path(__file__).resolve().parents[1] / "experiments" / "pong_fast.yaml")
PONG_RAINBOW = str(Path(__file__).resolve().parents[1] / "experiments" / "pong_rainbow.yaml")
SMALL = ["--data.buffer_size", "2000", "--data.replay_start_size", "200", "--torch_threads", "1"]


def test_pong_trains_a_few_hundred_frames_from_the_shipped_config(tmp_path):
    result = run_cli(
        "fit", "--config", PONG_FAST, *SMALL, "--trainer.max_steps", "150", "--trainer.log_every_n_steps", "25",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir, wandb_run = only_run(tmp_path)
    last = [row for row in wandb_run.history if "emulator_frames" in row][-1]
    assert last["frames"] >= 200 + 149 * 2  # warm-up, then 2 agent steps per update
    assert last["emulator_frames"] == 4 * last["frames"]
    assert all(math.isfinite(loss) for _, loss in wandb_run.column("loss"))
    assert wandb_run.name == "PongNoFrameskip-v4-pong_fast-seed0"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    # The trained system plays a game, filmed: greedy evaluation through `test`, one MP4.
    short_games = ["--data.env_kwargs", "{max_num_frames_per_episode: 1200}", "--data.eval_episodes", "1"]
    test = run_cli(
        "test", "--config", PONG_FAST, *SMALL, *short_games, "--data.record_video", "true", "--trainer.logger", "false",
        "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), cwd=tmp_path,
    )
    assert test.returncode == 0, test.stderr[-3000:]
    assert "test/return_mean" in test.stdout and "test/length_mean" in test.stdout
    (video,) = (tmp_path / "runs" / "videos").glob("test-*.mp4")
    assert video.stat().st_size > 10_000


def test_pong_rainbow_trains_from_the_shipped_config_and_its_checkpoint_plays(tmp_path):
    """All six of Rainbow's parts on the Nature CNN, through the CLI: updates, then a greedy game."""
    result = run_cli(
        "fit", "--config", PONG_RAINBOW, *SMALL, "--trainer.max_steps", "30", "--trainer.log_every_n_steps", "10",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir, wandb_run = only_run(tmp_path)
    assert wandb_run.config["distributional"] is True and wandb_run.config["noisy"] is True
    assert all(math.isfinite(loss) and loss > 0 for _, loss in wandb_run.column("loss"))  # a cross-entropy
    assert [eps for _, eps in wandb_run.column("epsilon")] == [0.0] * len(wandb_run.column("epsilon"))
    short_game = ["--data.env_kwargs", "{max_num_frames_per_episode: 600}", "--data.eval_episodes", "1"]
    test = run_cli(
        "test", "--config", PONG_RAINBOW, *SMALL, *short_game, "--trainer.logger", "false",
        "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), cwd=tmp_path,
    )
    assert test.returncode == 0, test.stderr[-3000:]
    assert "test/return_mean" in test.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--data.atari.backend", "sdl"], "data.atari.backend"),
        (["--data.atari.frame_stack", "0"], "data.atari.frame_stack"),
        (["--data.atari.noop_max", "-1"], "data.atari.noop_max"),
        (["--data.env_kwargs", "{frame_skip: 3}"], "data.env_kwargs"),
        (["--data.env_id", "ALE/NoSuchGame-v5"], "data.env_id"),
        (["--model.network", "mlp", "--model.hidden_sizes", "[0]"], "model.hidden_sizes"),
    ],
)
def test_bad_atari_config_is_one_line_and_exit_2(args, field, tmp_path, capsys, monkeypatch):
    assert_one_line_config_error(["fit", "--config", PONG_FAST, *SMALL, *args], field, tmp_path, capsys, monkeypatch)
