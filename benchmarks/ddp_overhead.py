"""What DDP adds to each optimizer step: one process against two (Lightning's own launch, gloo, CPU).

Why: under DDP every step pays the gradient all-reduce, and any other collective a callback issues
(a stop decision, logged aggregates) is paid every step too. For a small MLP that is most of the
step. This script trains ``experiments/frozenlake_nonslippery.yaml``'s net and data (16 -> 256 ->
128 -> 4, batch 16, one update per frame, one thread per process) for a fixed number of steps, with
the callbacks a run has (epsilon, target sync, a ``RewardBound`` set out of reach so it never stops
the run, the experience logger, no logger backend), and prints milliseconds per step after the
warm-up for 1 and for 2 processes.

    python benchmarks/ddp_overhead.py --steps 3000 --repeats 2
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import pytorch_lightning as pl
import torch

from lightning_dqn import DQN, DQNDataModule, EpsilonSchedule, ExperienceLogger, RewardBound, TargetNetworkSync

WARMUP_STEPS = 500  # steps before the clock starts (buffer filling, first-step costs)


class StepClock(pl.Callback):
    """Wall time from step ``WARMUP_STEPS`` to the last step; rank 0 prints it."""

    def __init__(self) -> None:
        self.start: float | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == WARMUP_STEPS:
            self.start = time.perf_counter()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        timed = trainer.global_step - WARMUP_STEPS
        if trainer.is_global_zero and self.start is not None:
            ms = 1000 * (time.perf_counter() - self.start) / timed
            print(f"RESULT processes={trainer.world_size} steps={timed} ms_per_step={ms:.3f}", flush=True)


def compare(steps: int, repeats: int) -> None:
    """Runs 1 and 2 processes alternately, each in a fresh interpreter, and prints the table."""
    results: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for processes in results:
            out = subprocess.run(
                [sys.executable, __file__, "--steps", str(steps), "--processes", str(processes)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            results[processes].append(float(re.search(r"ms_per_step=([\d.]+)", out).group(1)))
    one = statistics.median(results[1])
    print(f"FrozenLake MLP, {steps - WARMUP_STEPS} timed steps, gloo on CPU, one thread per process, medians of {repeats}")
    for processes, values in results.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {processes} process(es): {median:6.2f} ms per step ({runs}); over one process: {median - one:+.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps per run (the first 500 untimed)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternating")
    parser.add_argument("--processes", type=int, default=None, help="run only this (1, or N for N-process DDP)")
    args = parser.parse_args()
    if args.processes is None:
        compare(args.steps, args.repeats)
        return
    torch.set_num_threads(1)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    pl.seed_everything(0, verbose=False)
    data = DQNDataModule(
        env_id="FrozenLake-v1", env_kwargs={"is_slippery": False}, buffer_size=500, replay_start_size=500,
        batch_size=16, checkpoint_buffer=False,
    )  # fmt: skip
    model = DQN(obs_shape=data.obs_shape, n_actions=data.n_actions, hidden_sizes=[256, 128], gamma=0.9, lr=1e-3)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_steps=args.steps,
            accelerator="cpu",
            devices=args.processes,
            strategy="ddp" if args.processes > 1 else "auto",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
            callbacks=[
                EpsilonSchedule(1.0, 0.0, decay_frames=3000),
                TargetNetworkSync(every_frames=50),
                RewardBound(bound=2.0, save_best=False),  # out of reach: decides, never stops
                ExperienceLogger(),
                StepClock(),
            ],
        )
        trainer.fit(model, datamodule=data)


if __name__ == "__main__":
    main()
