"""Pong through the command line: a short real training run, and Atari config mistakes."""

import csv
import math
import sys
from pathlib import Path

import pytest

from lightning_dqn.cli import main
from tests.test_cli import run_cli

PONG_FAST = str(Path(__file__).resolve().parents[1] / "experiments" / "pong_fast.yaml")
SMALL = ["--data.buffer_size", "2000", "--data.replay_start_size", "200", "--torch_threads", "1"]


def test_pong_trains_a_few_hundred_frames_from_the_shipped_config(tmp_path):
    result = run_cli(
        "fit", "--config", PONG_FAST, *SMALL, "--trainer.max_steps", "150", "--trainer.log_every_n_steps", "25",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "pong_fast" / "version_0"
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    last = [r for r in rows if r["frames"]][-1]
    assert float(last["frames"]) >= 200 + 149 * 2  # warm-up, then 2 agent steps per update
    assert float(last["emulator_frames"]) == 4 * float(last["frames"])
    assert all(math.isfinite(float(r["loss"])) for r in rows if r["loss"])
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


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
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", PONG_FAST, *SMALL, *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and field in err[0], err
    assert not (tmp_path / "runs").exists(), "nothing was trained or written"
