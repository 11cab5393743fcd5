"""CartPole-v1 training throughput on CPU (or one GPU): a hand-written PyTorch DQN loop vs. lightning_dqn.

Why: DESIGN.md ("Speed") sets the bar as a plain PyTorch DQN loop (CleanRL's ``dqn.py``) run side by
side at the same hyperparameters. This script runs both in one process, on one thread each, and
prints frames per second for the whole run and for the part after the replay-start warm-up (the
warm-up is random play, so the second figure is the one that compares the training loops).

Both runs use CleanRL's CartPole defaults: buffer 10_000, lr 2.5e-4, gamma 0.99, MLP 4-120-84-2,
MSE TD loss, hard target copy every 500 frames, batch 128, epsilon 1.0 -> 0.05 linearly over half the
frames, learning starts after 10_000 frames, one gradient step every 10 frames.

    python benchmarks/cartpole_speed.py --frames 50000 --threads 1
    python benchmarks/cartpole_speed.py --frames 50000 --threads 1 --device cuda   # both runs on the GPU

``--vec-envs 8`` (the default) adds a third row, lightning_dqn with ``data.num_envs=8``; 0 skips it.
``--prioritized`` adds a row with prioritized replay (``data.prioritized=true``), its cost over uniform.
``--rainbow`` adds three rows: noisy layers (``model.noisy``), C51 (``model.distributional``, 51 atoms on
[0, 100]) and all six of Rainbow's parts together (plus double Q, dueling, 3-step returns, prioritized
replay); the ``ms/update`` column after the warm-up shows what each costs per optimizer step.
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from lightning_dqn import DQN, DQNDataModule, EpsilonSchedule, ExperienceLogger, TargetNetworkSync

BUFFER_SIZE = 10_000
LR = 2.5e-4
GAMMA = 0.99
TARGET_EVERY = 500  # frames
BATCH_SIZE = 128
EPS_START, EPS_FINAL, EXPLORATION_FRACTION = 1.0, 0.05, 0.5
LEARNING_STARTS = 10_000  # frames
TRAIN_EVERY = 10  # frames per gradient step
HIDDEN = (120, 84)
C51 = {"distributional": True, "atoms": 51, "v_min": 0.0, "v_max": 100.0}
RAINBOW_ROWS = {  # name: (model switches, data switches)
    "noisy": ({"noisy": True}, {}),
    "C51": (C51, {}),
    "all six": ({**C51, "noisy": True, "double_q": True, "dueling": True}, {"n_step": 3, "prioritized": True}),
}


@dataclass
class Result:
    """What one run measured; ``warm_*`` are counted from the first gradient step on."""

    name: str
    frames: int
    grad_steps: int
    wall_s: float
    warm_frames: int
    warm_s: float
    episodes: int
    reward_100: float

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    @property
    def warm_fps(self) -> float:
        return self.warm_frames / self.warm_s


# ----------------------------------------------------------------------------- plain PyTorch
class RingBuffer:
    """Fixed-size numpy replay memory; the oldest transition is overwritten first."""

    def __init__(self, capacity: int, obs_dim: int):
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.capacity, self.pos, self.size = capacity, 0, 0

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        i = self.pos
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.size, n)
        arrays = (self.obs, self.action, self.reward, self.next_obs, self.terminated)
        return tuple(torch.from_numpy(a[idx]) for a in arrays)


def mlp(obs_dim: int, n_actions: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(obs_dim, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
        nn.Linear(HIDDEN[1], n_actions),
    )  # fmt: skip


def run_plain(frames: int, seed: int, device: str = "cpu") -> Result:
    """The loop a researcher writes by hand: act, store, every TRAIN_EVERY frames one Adam step."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make("CartPole-v1")
    obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)
    q_net, target_net = mlp(obs_dim, n_actions).to(device), mlp(obs_dim, n_actions).to(device)
    target_net.load_state_dict(q_net.state_dict())
    optimizer = torch.optim.Adam(q_net.parameters(), lr=LR)
    buffer = RingBuffer(BUFFER_SIZE, obs_dim)
    decay = EXPLORATION_FRACTION * frames
    obs, _ = env.reset(seed=seed)
    returns: deque[float] = deque(maxlen=100)
    episode_return, episodes, grad_steps, warm_start = 0.0, 0, 0, start

    for frame in range(1, frames + 1):
        epsilon = max(EPS_FINAL, EPS_START + (EPS_FINAL - EPS_START) * (frame - 1) / decay)
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q_net(torch.from_numpy(obs).unsqueeze(0).to(device)).argmax(1).item())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)  # truncated: bootstrap from next_obs
        episode_return += reward
        obs = next_obs
        if terminated or truncated:
            returns.append(episode_return)
            episode_return, episodes = 0.0, episodes + 1
            obs, _ = env.reset()

        if frame == LEARNING_STARTS:
            warm_start = time.perf_counter()
        if frame > LEARNING_STARTS and frame % TRAIN_EVERY == 0:
            sample = buffer.sample(rng, BATCH_SIZE)
            b_obs, b_action, b_reward, b_next, b_term = (t.to(device, non_blocking=True) for t in sample)
            with torch.no_grad():
                target = b_reward + GAMMA * target_net(b_next).max(1).values * (1.0 - b_term)
            q_sa = q_net(b_obs).gather(1, b_action.unsqueeze(1)).squeeze(1)
            loss = F.mse_loss(q_sa, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            grad_steps += 1
        if frame > LEARNING_STARTS and frame % TARGET_EVERY == 0:
            target_net.load_state_dict(q_net.state_dict())

    if device != "cpu":
        torch.cuda.synchronize()
    end = time.perf_counter()
    env.close()
    mean = float(np.mean(returns)) if returns else float("nan")
    warm_frames = frames - LEARNING_STARTS
    return Result("plain", frames, grad_steps, end - start, warm_frames, end - warm_start, episodes, mean)


# ----------------------------------------------------------------------------- lightning_dqn
class WarmupClock(pl.Callback):
    """Notes the wall time and frame count at the first training batch (warm-up and prefetch done)."""

    def __init__(self) -> None:
        self.time: float | None = None
        self.frames = 0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.time is None:
            self.time, self.frames = time.perf_counter(), trainer.datamodule.frames


def run_lightning(
    frames: int, seed: int, num_envs: int = 1, prioritized: bool = False, variant: str | None = None,
    device: str = "cpu", updates_per_step: int = 1,
) -> Result:
    """The same hyperparameters through DQN, DQNDataModule, the callbacks and a real Trainer.

    ``variant`` names a row of ``RAINBOW_ROWS``: its switches on top (epsilon stays as it is, so the
    rows differ only in what each update and each action computes). ``updates_per_step`` K makes K
    updates per Lightning step (``data.updates_per_step``)."""
    model_switches, data_switches = RAINBOW_ROWS[variant] if variant else ({}, {})
    start = time.perf_counter()
    pl.seed_everything(seed, verbose=False)
    data = DQNDataModule(
        env_id="CartPole-v1",
        num_envs=num_envs,
        buffer_size=BUFFER_SIZE,
        replay_start_size=LEARNING_STARTS,
        batch_size=BATCH_SIZE,
        frames_per_batch=TRAIN_EVERY,
        seed=seed,
        updates_per_step=updates_per_step,
        **{"prioritized": prioritized, **data_switches},
    )
    model = DQN(
        obs_shape=data.obs_shape, n_actions=data.n_actions, hidden_sizes=list(HIDDEN), gamma=GAMMA, lr=LR, loss="mse",
        updates_per_step=updates_per_step, **model_switches,
    )  # fmt: skip
    # linear_epsilon falls by 1.0 per decay_frames; reach EPS_FINAL at EXPLORATION_FRACTION * frames.
    decay_frames = round(EXPLORATION_FRACTION * frames / (EPS_START - EPS_FINAL))
    clock = WarmupClock()
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_steps=(frames - LEARNING_STARTS) // TRAIN_EVERY,
            accelerator="gpu" if device == "cuda" else "cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=root,
            callbacks=[
                EpsilonSchedule(EPS_START, EPS_FINAL, decay_frames=decay_frames),
                TargetNetworkSync(every_frames=TARGET_EVERY),
                ExperienceLogger(),
                clock,
            ],
        )
        trainer.fit(model, datamodule=data)
    end = time.perf_counter()
    name = "lightning_dqn" if num_envs == 1 else f"lightning_dqn x{num_envs} envs"
    name += " prioritized" if prioritized else ""
    name += f" {variant}" if variant else ""
    name += f" K={updates_per_step}" if updates_per_step > 1 else ""
    warm_start = clock.time if clock.time is not None else end
    return Result(
        name, data.frames, trainer.global_step, end - start, data.frames - clock.frames, end - warm_start,
        data.episodes, data.mean_return,
    )  # fmt: skip


# ----------------------------------------------------------------------------- report
def device_name(device: str) -> str:
    """``CPU`` or the GPU's name, for the table's title line."""
    return torch.cuda.get_device_name() if device == "cuda" else "CPU"


def print_table(results: list[Result]) -> None:
    header = (
        f"{'run':<34}{'frames':>8}{'steps':>7}{'wall s':>8}{'fps':>8}{'fps warm':>10}{'ms/update warm':>16}"
        f"{'episodes':>10}{'reward_100':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<34}{r.frames:>8}{r.grad_steps:>7}{r.wall_s:>8.2f}{r.fps:>8.0f}{r.warm_fps:>10.0f}"
            f"{1000 * r.warm_s / max(r.grad_steps, 1):>16.2f}{r.episodes:>10}{r.reward_100:>12.1f}"
        )
    plain = results[0]
    for r in results[1:]:
        print(f"{r.name} / plain: fps x{r.fps / plain.fps:.2f}, fps after warm-up x{r.warm_fps / plain.warm_fps:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50_000, help="total env frames per run, warm-up included")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for both runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vec-envs", type=int, default=8, help="num_envs of the extra lightning_dqn row; 0 skips")
    parser.add_argument("--prioritized", action="store_true", help="add a row with prioritized replay")
    parser.add_argument("--rainbow", action="store_true", help="add rows with noisy layers, C51, and all six Rainbow parts")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where every run's networks live")
    parser.add_argument("--updates-per-step", type=int, nargs="+", default=[], metavar="K",
                        help="add a lightning_dqn row per K: data.updates_per_step = K")
    args = parser.parse_args()
    if args.frames < LEARNING_STARTS + TRAIN_EVERY:
        parser.error(f"--frames must be at least {LEARNING_STARTS + TRAIN_EVERY} (warm-up + one step)")

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # "GPU available: ..." lines
    warnings.filterwarnings("ignore", ".*does not have many workers.*")

    on = {"device": args.device}
    results = [run_plain(args.frames, args.seed, **on), run_lightning(args.frames, args.seed, **on)]
    if args.vec_envs > 1:
        results.append(run_lightning(args.frames, args.seed, num_envs=args.vec_envs, **on))
    results += [run_lightning(args.frames, args.seed, updates_per_step=k, **on) for k in args.updates_per_step]
    if args.prioritized:
        results.append(run_lightning(args.frames, args.seed, prioritized=True, **on))
    if args.rainbow:
        results += [run_lightning(args.frames, args.seed, variant=name, **on) for name in RAINBOW_ROWS]
    assert torch.get_num_threads() == args.threads, "something changed the torch thread count"
    print(f"CartPole-v1, {args.frames} frames, torch threads {args.threads}, {device_name(args.device)}, seed {args.seed}")
    print_table(results)


if __name__ == "__main__":
    main()
