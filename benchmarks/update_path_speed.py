"""The module's own update loop (``data.updates_per_step`` > 1): direct updates against Lightning's path.

Why: ``lightning_dqn/direct_updates.py`` skips Lightning's per-update dispatch (``manual_backward``,
``clip_gradients``, ``LightningOptimizer.step`` and their hooks) where that is the same arithmetic.
This measures what that saves on ``experiments/cartpole_fast.yaml``'s settings (16 envs, 16 frames
and one update of a [128, 128] MLP per cycle, Double DQN, huber, clipping, a Polyak step, K = 8),
in one process, alternating the two paths round by round so that a machine whose speed drifts
weighs on both. The Lightning path is forced the way a user would force it: a callback that
defines ``on_after_backward`` (it does nothing). Both paths give the same weights
(``tests/test_updates_per_step.py``); the printed ``reward_100`` of each round says so too.

    python benchmarks/update_path_speed.py --rounds 4 --updates 2400
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import pytorch_lightning as pl
import torch

from lightning_dqn import DQN, DQNDataModule
from lightning_dqn.callbacks import EpsilonSchedule, TargetNetworkSync
from lightning_dqn.direct_updates import can_update_directly

WARMUP_UPDATES = 400  # not timed: the first updates also pay for allocation and the first Lightning steps


class WatchesBackward(pl.Callback):
    """Defines a per-update hook, so the module updates through Lightning (``can_update_directly``)."""

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass


class UpdateClock(pl.Callback):
    """Milliseconds per update (its 16 frames, sample and update) after ``WARMUP_UPDATES``."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.ms_per_update = float("nan")

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.start is None and trainer.global_step >= WARMUP_UPDATES:
            self.start, self.first = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.ms_per_update = (time.perf_counter() - self.start) * 1e3 / (trainer.global_step - self.first)


def run(path: str, updates: int, seed: int) -> tuple[float, float]:
    """One run of ``updates`` updates on ``path`` (``direct`` or ``lightning``): ms per update, reward_100."""
    pl.seed_everything(seed, verbose=False)
    data = DQNDataModule(
        env_id="CartPole-v1", num_envs=16, buffer_size=100_000, replay_start_size=1000, batch_size=128,
        frames_per_batch=16, updates_per_step=8, eval_episodes=1, seed=seed,
    )  # fmt: skip
    model = DQN(
        obs_shape=data.obs_shape, n_actions=data.n_actions, hidden_sizes=(128, 128), lr=1e-3, loss="huber",
        double_q=True, gradient_clip_val=10.0, updates_per_step=8,
    )  # fmt: skip
    clock = UpdateClock()
    callbacks = [EpsilonSchedule(1.0, 0.0, 10_000), TargetNetworkSync(every_frames=16, tau=0.02), clock]
    if path == "lightning":
        callbacks.append(WatchesBackward())
    trainer = pl.Trainer(
        max_steps=updates, logger=False, callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    assert can_update_directly(trainer, model) == (path == "direct")
    trainer.fit(model, datamodule=data)
    return clock.ms_per_update, data.mean_return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating pairs of runs")
    parser.add_argument("--updates", type=int, default=2400, help="updates per run (the first 400 are not timed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {"direct": [], "lightning": []}
    for round_ in range(args.rounds):
        for path in times:
            ms, reward = run(path, args.updates, args.seed)
            times[path].append(ms)
            print(f"round {round_}: {path:9s} {ms:.3f} ms per update, reward_100 {reward:.1f}", flush=True)
    direct, lightning = (statistics.median(times[p]) for p in ("direct", "lightning"))
    print(f"\n{args.updates} updates per run, {args.rounds} rounds, torch threads {args.threads}, seed {args.seed}")
    for path, median in (("Lightning's path", lightning), ("direct updates", direct)):
        runs = ", ".join(f"{t:.2f}" for t in times["direct" if path == "direct updates" else "lightning"])
        print(f"{path:17s} median {median:.3f} ms per update ({runs})")
    print(f"direct / Lightning: {direct / lightning:.2f}x the time per update")


if __name__ == "__main__":
    main()
