"""A run stopped by a signal saves where it was, says how to go on, exits non-zero, and resumes.

Each test starts a real ``python -m lightning_dqn fit`` process, sends it a real signal once it is
training, and resumes from what it wrote.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
LAKE = str(ROOT / "experiments" / "frozenlake.yaml")
# the slippery lake cannot reach its bound while epsilon is near 1, so only the signal ends these runs
ENDLESS = ["--trainer.max_steps", "1000000", "--progress_every_seconds", "0.5"]


def environment(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(key, None)
    return env


def start(args, cwd: Path, log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lightning_dqn", *args], cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT
    )


def wait_for(log: Path, pattern: str, process: subprocess.Popen, timeout: float = 180) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        assert process.poll() is None, f"the run ended before {pattern!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{log.read_text()[-3000:]}")


def datamodule_state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["DQNDataModule"]


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signalled_run_saves_exits_non_zero_and_resumes(tmp_path, sig, code):
    log = tmp_path / "first.log"
    args = ["fit", "--config", LAKE, *ENDLESS, "--trainer.logger.init_args.save_dir", "runs"]
    process = start(args, tmp_path, log, environment())
    # a progress line well after the 500 frames of warm-up: the run is learning
    wait_for(log, r"\n([3-9]\d{3}|\d{5,}): done \d+ episodes, mean reward [\d.]+, eps [\d.]+, speed \d+ f/s", process)
    process.send_signal(sig)
    assert process.wait(timeout=120) == code
    text = log.read_text()
    line = re.search(rf"Interrupted by {sig.name} at frame (\d+) \(optimizer step (\d+)\): saved (\S+); resume with: (.+)", text)
    assert line, text[-3000:]
    frames, step, checkpoint, command = int(line[1]), int(line[2]), tmp_path / line[3], line[4]
    assert "Not solved" not in text and "Solved" not in text
    assert checkpoint.name == "last.ckpt" and checkpoint.is_file()
    saved = datamodule_state(checkpoint)
    assert saved["agent"]["frames"] == frames and saved["buffer_beside"]["global_step"] == step
    assert (checkpoint.parent / "replay" / "rank0" / "saved_at.json").is_file(), "the buffer was dumped beside it"

    # the printed command, run as printed (plus a near step budget), continues the run
    resume_args = shlex.split(command)[3:] + ["--trainer.max_steps", str(step + 30)]
    resumed_log = tmp_path / "resumed.log"
    resumed = start(resume_args, tmp_path, resumed_log, environment())
    assert resumed.wait(timeout=300) == 0, resumed_log.read_text()[-3000:]
    assert "Not solved in " in resumed_log.read_text()
    (new_last,) = [p for p in tmp_path.glob("runs/lightning_dqn/*/checkpoints/last.ckpt") if p != checkpoint]
    after = datamodule_state(new_last)
    # 30 more updates played about 30 more frames: no warm-up of random play again
    assert frames + 30 <= after["agent"]["frames"] <= frames + 32
    assert after["agent"]["episodes"] >= saved["agent"]["episodes"]
    assert after["buffer_beside"]["rows"] >= saved["buffer_beside"]["rows"], "the buffer came back and grew"
    window, new = saved["agent"]["recent_returns"], after["agent"]["episodes"] - saved["agent"]["episodes"]
    kept = window[max(0, len(window) + new - 100):]
    assert after["agent"]["recent_returns"][: len(kept)] == kept, "the 100-episode window slid on"


def test_slurm_requeue_signal_saves_requeues_and_resumes_with_its_buffer(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'scontrol.calls'}\n")
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {  # what srun gives one task of a batch job
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "dqn", "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }  # fmt: skip
    root = tmp_path / "job4242"
    args = ["fit", "--config", LAKE, *ENDLESS, "--trainer.default_root_dir", str(root),
            "--trainer.logger.init_args.save_dir", "runs"]  # fmt: skip
    log = tmp_path / "first.log"
    process = start(args, tmp_path, log, environment(**slurm))
    wait_for(log, r"\n([3-9]\d{3}|\d{5,}): done \d+ episodes", process)
    process.send_signal(signal.SIGUSR1)
    assert process.wait(timeout=120) == 128 + signal.SIGUSR1
    assert (tmp_path / "scontrol.calls").read_text().split() == ["requeue", "4242"]
    hpc = root / "hpc_ckpt_1.ckpt"
    assert hpc.is_file()
    saved = datamodule_state(hpc)
    assert "Interrupted by SIGUSR1" in log.read_text()

    # the requeued job runs the same command again; Lightning resumes from the hpc checkpoint
    step = saved["buffer_beside"]["global_step"]
    resumed_log = tmp_path / "requeued.log"
    resumed = start([*args, "--trainer.max_steps", str(step + 20)], tmp_path, resumed_log, environment(**slurm))
    assert resumed.wait(timeout=300) == 0, resumed_log.read_text()[-3000:]
    (new_last,) = [p for p in tmp_path.glob("runs/lightning_dqn/*/checkpoints/last.ckpt") if p.stat().st_mtime > hpc.stat().st_mtime]
    after = datamodule_state(new_last)
    assert saved["agent"]["frames"] + 20 <= after["agent"]["frames"] <= saved["agent"]["frames"] + 22
    assert after["buffer_beside"]["rows"] >= saved["buffer_beside"]["rows"]


def test_a_signalled_study_stops_saves_and_records_its_runs_as_interrupted(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text(
        f"name: lake\nconfigs: [{LAKE}]\nseeds: [0, 1]\nvariants: {{plain: {{}}}}\n"
        "overrides: {trainer.max_steps: 1000000, progress_every_seconds: 0.5}\n"
    )
    log = tmp_path / "study.log"
    runner = subprocess.Popen(
        [sys.executable, "-m", "lightning_dqn.ablation", "run", str(study), "--workers", "2", "--out", "out"],
        cwd=tmp_path, env=environment(), stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    run_dirs = [tmp_path / "out" / "lake" / "plain" / f"seed{seed}" for seed in (0, 1)]
    for run_dir in run_dirs:  # both runs are past their warm-up
        deadline = time.monotonic() + 180
        while not re.search(r"\n[1-9]\d{3,}: done", (run_dir / "output.log").read_text() if run_dir.is_dir() else ""):
            assert time.monotonic() < deadline and runner.poll() is None, log.read_text()
            time.sleep(0.2)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=200) == 143, log.read_text()
    assert "its unfinished runs are recorded as interrupted" in log.read_text()
    for run_dir in run_dirs:
        status = json.loads((run_dir / "status.json").read_text())
        assert status["returncode"] == 143 and status["interrupted"] is True
        assert "Interrupted by SIGTERM" in (run_dir / "output.log").read_text()
        assert len(list(run_dir.glob("lightning_dqn/*/checkpoints/last.ckpt"))) == 1

    again = subprocess.run(
        [sys.executable, "-m", "lightning_dqn.ablation", "run", str(study), "--out", "out", "--dry-run"],
        cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0 and "0 already done, 2 to run" in again.stdout, again.stdout + again.stderr
