"""The command line as a user runs it: config files, run directories, evaluation, errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lightning_dqn.cli import main
from lightning_dqn.wandb_records import read_offline_run

ROOT = Path(__file__).resolve().parents[1]
NONSLIPPERY = str(ROOT / "experiments" / "frozenlake_nonslippery.yaml")


def run_cli(*args, cwd, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("WANDB_API_KEY", "WANDB_MODE"):  # no account: W&B must run offline by default
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "lightning_dqn", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def only_run(tmp_path):
    """The run directory and the offline W&B run of the single run under ``tmp_path/runs``."""
    (run_dir,) = (tmp_path / "runs" / "lightning_dqn").iterdir()
    (wandb_dir,) = (tmp_path / "runs" / "wandb").glob(f"offline-run-*-{run_dir.name}")
    return run_dir, read_offline_run(wandb_dir)


def test_fit_from_config_solves_and_keeps_every_run(tmp_path):
    first = run_cli("fit", "--config", NONSLIPPERY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Solved in " in first.stdout and " frames!" in first.stdout
    run_dir, wandb_run = only_run(tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["env_kwargs"] == {"is_slippery": False}
    assert "n_actions" not in config["model"], "env shapes are linked from data, never typed"
    assert wandb_run.config["obs_shape"] == [16] and wandb_run.config["n_actions"] == 4
    metrics = set().union(*wandb_run.history)
    assert {"frames", "episodes", "reward_100", "epsilon", "loss", "q_mean", "fps"} <= metrics
    final_eval = wandb_run.column("eval/return_mean")
    assert len(final_eval) == 1 and final_eval[0][1] == 1.0  # greedy after the stop
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == best["global_step"] > 0, "last.ckpt holds the end of the run (the solving step)"
    assert [p.name for p in (run_dir / "checkpoints").glob("last*.ckpt")] == ["last.ckpt"]

    second = run_cli("fit", "--config", NONSLIPPERY, "--trainer.max_steps", "5", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert len([d for d in (tmp_path / "runs" / "lightning_dqn").iterdir() if (d / "config.yaml").is_file()]) == 2
    assert (run_dir / "checkpoints" / "best.ckpt").is_file(), "the first run is untouched"
    (short_run,) = [d for d in (tmp_path / "runs" / "lightning_dqn").iterdir() if d != run_dir]
    saved = [p.name for p in (short_run / "checkpoints").glob("last*.ckpt")]
    assert saved == ["last.ckpt"], "a run with no periodic save ends with one last.ckpt, not a last-v1.ckpt beside it"

    test = run_cli(
        "test", "--config", NONSLIPPERY, "--ckpt_path", str(run_dir / "checkpoints" / "best.ckpt"), cwd=tmp_path
    )
    assert test.returncode == 0, test.stderr[-2000:]
    assert "test/return_mean" in test.stdout and "test/return_std" in test.stdout

    no_logger = run_cli(
        "test", "--config", NONSLIPPERY, "--trainer.logger", "false",
        "--ckpt_path", str(run_dir / "checkpoints" / "best.ckpt"), cwd=tmp_path,
    )
    assert no_logger.returncode == 0, no_logger.stderr[-2000:]
    assert not (tmp_path / "runs" / "config.yaml").exists(), "evaluation writes no config"


def test_fit_without_logger_never_overwrites_an_earlier_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    args = ["fit", "--config", NONSLIPPERY, "--trainer.logger", "false", "--trainer.max_steps", "2"]
    main(args)
    saved = (tmp_path / "runs" / "config.yaml").read_text()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: trainer.logger: ") and "belongs to an earlier run" in err[-1]
    assert (tmp_path / "runs" / "config.yaml").read_text() == saved


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--model.lr", "-1"], "model.lr"),
        (["--model.gamma", "1.5"], "model.gamma"),
        (["--model.gamma", "0"], "model.gamma"),
        (["--model.loss", "l1"], "model.loss"),
        (["--data.env_id", "NoSuchEnv-v0"], "data.env_id"),
        (["--data.env_id", "Pendulum-v1", "--data.env_kwargs", "null"], "data.env_id"),
        (["--data.batch_size", "1000"], "data.batch_size"),
        (["--data.replay_start_size", "4"], "data.replay_start_size"),
        (["--data.num_envs", "0"], "data.num_envs"),
        (["--data.frames_per_batch", "0"], "data.frames_per_batch"),
        (["--trainer.callbacks+=EpsilonSchedule", "--trainer.callbacks.start", "2.0"], "EpsilonSchedule.start"),
        (["--trainer.callbacks+=EpsilonSchedule", "--trainer.callbacks.final", "-0.1"], "EpsilonSchedule.final"),
        (["--torch_threads", "0"], "torch_threads"),
        (["--data.n_step", "0"], "data.n_step"),
        (["--data.replay_layout", "rows"], "data.replay_layout"),
        (["--data.replay_memmap_dir", "replay", "--data.replay_layout", "transitions"], "data.replay_layout"),
        (["--data.vectorization_mode", "vector_entry_point"], "data.vectorization_mode"),  # FrozenLake has none
        (["--model.network", "resnet"], "model.network"),
        (["--model.network", "nature_cnn"], "model.network"),
        (["--data.eval_every_frames", "0"], "data.eval_every_frames"),
        (["--trainer.callbacks+=RewardBound", "--trainer.callbacks.bound", "1", "--trainer.callbacks.monitor", "val"],
         "RewardBound.monitor"),
        (["--trainer.logger", "lightning_dqn.tracking.DQNWandbLogger", "--trainer.logger.init_args.log_model", "true"],
         "trainer.logger.init_args.log_model"),
        (["--model.lr", "abc"], "model.lr"),
        (["--model.gama", "0.9"], "model.gama"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(args, field, tmp_path, capsys, monkeypatch):
    assert_one_line_config_error(["fit", "--config", NONSLIPPERY, *args], field, tmp_path, capsys, monkeypatch)


def assert_one_line_config_error(argv, field, tmp_path, capsys, monkeypatch):
    """``main(argv)`` exits 2 with one line naming ``field``, before anything is trained or written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and field in err[0], err
    assert not (tmp_path / "runs").exists(), "nothing was trained or written"


def test_bad_config_exit_code_from_a_real_process(tmp_path):
    result = run_cli("fit", "--config", NONSLIPPERY, "--data.batch_size", "1000", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: data.batch_size: must be <= data.buffer_size (500), got 1000"
    )


def test_print_config_documents_every_hyperparameter(tmp_path):
    result = run_cli("fit", "--config", NONSLIPPERY, "--print_config=comments", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for text in ["replay_start_size: 500", "Frames of uniformly random play", "frames_per_batch: 1", "gamma: 0.9",
                 "Discount factor", "decay_frames: 3000", "every_frames: 50", "bound: 0.95"]:
        assert text in out, text


def test_torch_threads_sets_torch_cpu_threads(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        main(["fit", "--config", NONSLIPPERY, "--trainer.max_steps", "2", "--torch_threads", "1", "--trainer.logger", "false"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_divergence_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning_dqn"])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", NONSLIPPERY, "--model.lr", "1e10", "--data.replay_start_size", "32", "--trainer.logger", "false"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: loss is ") and "training diverged" in err[-1]
