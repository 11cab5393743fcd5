"""Pong training throughput on CPU (or one GPU): lightning_dqn on both Atari back ends vs. a hand-written PyTorch loop.

Why: on Pong the convolution update, not the emulator, sets the pace, so the question is what the
framework (Lightning's loop, TorchRL's buffer, the frame-once replay that rebuilds stacks and n-step
returns when sampling) adds on top of the same network and optimizer written by hand. This script
runs lightning_dqn once per ``data.atari.backend`` (``vector``: ale_py's AtariVectorEnv, C++
threads; ``gymnasium``: Python wrappers) and a plain loop in the same process, and prints agent
steps, updates and emulator frames (agent steps x 4) per second counted from the first gradient
step (the warm-up before it is random play). It also prints the replay memory per transition.

Settings of ``experiments/pong_fast.yaml``: PongNoFrameskip-v4, frame skip 4, stack 4, 30 no-ops,
FIRE reset; Nature CNN with a dueling head, Double DQN targets, huber loss, Adam lr 1e-4, gradient
norm clipped at 10, gamma 0.99; 2 envs, batch 32, one update per 2 agent steps (one step of both
envs), target copy every 2000 agent steps (1000 updates), epsilon 1 -> 0.01 over 100k agent steps.
lightning_dqn uses 3-step returns; the plain loop uses 1-step targets (the n-step arithmetic costs
nothing next to the convolutions). The buffer is small (``--buffer-size`` rows): this is a speed
test, not a training run.

    python benchmarks/pong_speed.py --updates 1500 --threads 2
    python benchmarks/pong_speed.py --updates 1500 --threads 2 --skip-plain --backends vector --prioritized
    python benchmarks/pong_speed.py --updates 3000 --threads 2 --backends vector --device cuda   # networks on the GPU
    python benchmarks/pong_speed.py --updates 1000 --threads 2 --backends vector --greedy        # acting as late in a run

``--greedy`` sets epsilon to 0.01 after the warm-up (otherwise it falls from 1 and stays near 1 in a
short benchmark), so every agent step runs the CNN forward as a late training run does.

``--prioritized`` adds a row with prioritized replay on the vector back end: the cost of drawing by
priority and writing TD errors back. ``--rainbow`` adds three vector-back-end rows: noisy layers, C51
(51 atoms on [-10, 10]) and all six of Rainbow's parts (plus prioritized replay); ``updates/s``
shows what each costs per optimizer step.
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from gymnasium.vector import AutoresetMode
from pytorch_lightning.loggers import CSVLogger
from torchrl.data import ReplayBuffer

from cartpole_speed import device_name  # a sibling script: benchmarks/ is on sys.path when run
from lightning_dqn import DQN, DQNDataModule, EpsilonSchedule, ExperienceLogger, TargetNetworkSync
from lightning_dqn.envs.atari import AtariOptions
from lightning_dqn.replay.frames import bytes_per_row
from lightning_dqn.networks import NatureCNN

ENV_ID, GAME = "PongNoFrameskip-v4", "pong"
NUM_ENVS, FRAME_SKIP, STACK = 2, 4, 4
GAMMA, LR, BATCH_SIZE, GRAD_CLIP = 0.99, 1e-4, 32, 10.0
FRAMES_PER_BATCH = 2  # agent steps per update
N_STEP = 3  # lightning_dqn only
TARGET_EVERY = 2000  # agent steps (1000 updates)
EPS_START, EPS_FINAL, EPS_DECAY = 1.0, 0.01, 100_000  # agent steps over which epsilon falls by 1.0
STACK_BYTES = STACK * 84 * 84  # one uint8 observation
C51 = {"distributional": True, "atoms": 51, "v_min": -10.0, "v_max": 10.0}
RAINBOW_ROWS = {  # name: (model switches on top of pong_fast's, prioritized replay)
    "noisy": ({"noisy": True}, False),
    "C51": (C51, False),
    "all six": ({**C51, "noisy": True}, True),
}


@dataclass
class Result:
    """What one run measured; ``warm_*`` are counted from the first gradient step on."""

    name: str
    agent_steps: int
    updates: int
    wall_s: float
    warm_steps: int
    warm_s: float
    episodes: int

    @property
    def steps_per_s(self) -> float:
        return self.warm_steps / self.warm_s

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.warm_s

    @property
    def emulator_fps(self) -> float:
        return self.steps_per_s * FRAME_SKIP


# ----------------------------------------------------------------------------- plain PyTorch
class StackReplay:
    """Numpy ring buffer of whole uint8 stacks: obs and next_obs stored per transition."""

    def __init__(self, capacity: int):
        self.obs = np.zeros((capacity, STACK, 84, 84), np.uint8)
        self.next_obs = np.zeros((capacity, STACK, 84, 84), np.uint8)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.capacity, self.pos, self.size = capacity, 0, 0

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, term: np.ndarray):
        for i in range(len(action)):
            j = self.pos
            self.obs[j], self.next_obs[j] = obs[i], next_obs[i]
            self.action[j], self.reward[j], self.terminated[j] = action[i], reward[i], term[i]
            self.pos = (j + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.size, n)
        arrays = (self.obs, self.action, self.reward, self.next_obs, self.terminated)
        return tuple(torch.from_numpy(a[idx]) for a in arrays)


def run_plain(
    updates: int, replay_start: int, capacity: int, seed: int, device: str = "cpu", greedy: bool = False
) -> Result:
    """The loop a researcher writes by hand around ale_py's vector env: act, store, one Adam step."""
    from ale_py.vector_env import AtariVectorEnv

    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = AtariVectorEnv(
        GAME, NUM_ENVS, frameskip=FRAME_SKIP, stack_num=STACK, noop_max=30, use_fire_reset=True,
        life_loss_info=False, reward_clipping=False, repeat_action_probability=0.0,
        autoreset_mode=AutoresetMode.NEXT_STEP,
    )  # fmt: skip
    n_actions = int(env.single_action_space.n)
    q_net = NatureCNN((STACK, 84, 84), n_actions, dueling=True).to(device)
    target_net = copy.deepcopy(q_net).requires_grad_(False)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=LR, fused=True)  # the same Adam kernel as lightning_dqn
    replay = StackReplay(capacity)
    obs, _ = env.reset(seed=seed)
    resetting = np.zeros(NUM_ENVS, bool)  # NEXT_STEP autoreset: the step after a done is no transition
    steps = grad_steps = episodes = warm_steps = 0
    warm_start = None

    while grad_steps < updates:
        epsilon = max(EPS_FINAL, (EPS_FINAL if greedy else EPS_START) - steps / EPS_DECAY) if warm_start is not None else 1.0
        actions = rng.integers(n_actions, size=NUM_ENVS)
        by_net = rng.random(NUM_ENVS) >= epsilon
        if by_net.any():
            with torch.no_grad():
                actions[by_net] = q_net(torch.from_numpy(obs[by_net]).to(device)).argmax(1).cpu().numpy()
        next_obs, reward, terminated, truncated, _ = env.step(actions)
        real = ~resetting
        replay.add(obs[real], actions[real], reward[real], next_obs[real], terminated[real])
        resetting = terminated | truncated
        episodes += int((real & resetting).sum())
        steps += int(real.sum())
        obs = next_obs
        if steps < replay_start:
            continue
        if warm_start is None:
            warm_start, warm_steps = time.perf_counter(), steps

        sample = replay.sample(rng, BATCH_SIZE)
        b_obs, b_action, b_reward, b_next, b_term = (t.to(device, non_blocking=True) for t in sample)
        with torch.no_grad():  # Double DQN: the online net picks a', the target net values it
            best = q_net(b_next).argmax(1, keepdim=True)
            next_value = target_net(b_next).gather(1, best).squeeze(1)
            target = b_reward + GAMMA * next_value * (1.0 - b_term)
        q_sa = q_net(b_obs).gather(1, b_action.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q_sa, target)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(q_net.parameters(), GRAD_CLIP)
        optimizer.step()
        grad_steps += 1
        if grad_steps % (TARGET_EVERY // FRAMES_PER_BATCH) == 0:
            target_net.load_state_dict(q_net.state_dict())

    if device != "cpu":
        torch.cuda.synchronize()
    end = time.perf_counter()
    env.close()
    return Result("plain (ale vector)", steps, grad_steps, end - start, steps - warm_steps, end - warm_start, episodes)


# ----------------------------------------------------------------------------- lightning_dqn
class WarmupClock(pl.Callback):
    """Wall time and agent steps at the first training batch (warm-up done) and after the last."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end = 0.0
        self.start_frames = self.end_frames = 0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.start is None:
            self.start, self.start_frames = time.perf_counter(), trainer.datamodule.frames

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self.end, self.end_frames = time.perf_counter(), trainer.datamodule.frames


def run_lightning(
    backend: str, updates: int, replay_start: int, buffer_size: int, seed: int, prioritized: bool = False,
    variant: str | None = None, device: str = "cpu", greedy: bool = False, updates_per_step: int = 1,
):  # fmt: skip
    """pong_fast.yaml's model, data and callbacks through a real Trainer; returns the result and buffer.

    ``variant`` names a row of ``RAINBOW_ROWS``, whose switches go on top. ``updates_per_step`` K > 1
    makes K updates per Lightning step (the module then clips the gradient itself)."""
    model_switches, prioritized = RAINBOW_ROWS[variant] if variant else ({}, prioritized)
    start = time.perf_counter()
    pl.seed_everything(seed, verbose=False)
    data = DQNDataModule(
        env_id=ENV_ID,
        atari=AtariOptions(backend=backend, frame_skip=FRAME_SKIP, frame_stack=STACK),
        num_envs=NUM_ENVS,
        buffer_size=buffer_size,
        replay_start_size=replay_start,
        batch_size=BATCH_SIZE,
        frames_per_batch=FRAMES_PER_BATCH,
        n_step=N_STEP,
        prioritized=prioritized,
        checkpoint_buffer=False,
        seed=seed,
        updates_per_step=updates_per_step,
    )
    several = updates_per_step > 1
    model = DQN(
        obs_shape=data.obs_shape, n_actions=data.n_actions, network="nature_cnn", dueling=True, double_q=True,
        gamma=GAMMA, lr=LR, loss="huber", updates_per_step=updates_per_step,
        gradient_clip_val=GRAD_CLIP if several else None, **model_switches,
    )  # fmt: skip
    clock = WarmupClock()
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_steps=updates,
            gradient_clip_val=None if several else GRAD_CLIP,
            accelerator="gpu" if device == "cuda" else "cpu",
            devices=1,
            logger=CSVLogger(root, name="pong_speed"),  # the real run logs too
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            default_root_dir=root,
            callbacks=[
                EpsilonSchedule(EPS_FINAL if greedy else EPS_START, EPS_FINAL, decay_frames=EPS_DECAY),
                TargetNetworkSync(every_frames=TARGET_EVERY),
                ExperienceLogger(),
                clock,
            ],
        )
        trainer.fit(model, datamodule=data)
    end = time.perf_counter()
    data.agent.env.close()
    warm_start = clock.start if clock.start is not None else end
    result = Result(
        f"lightning_dqn ({backend}{f', {variant}' if variant else ', prioritized' if prioritized else ''}"
        f"{f', K={updates_per_step}' if several else ''})", data.frames, trainer.global_step, end - start,
        clock.end_frames - clock.start_frames, clock.end - warm_start, data.episodes,
    )  # fmt: skip
    return result, data.buffer


# ----------------------------------------------------------------------------- report
def replay_bytes(buffer: ReplayBuffer) -> tuple[int, int]:
    """Bytes of every tensor the frame-once storage allocated, and its capacity in rows."""
    return round(bytes_per_row(buffer) * buffer.storage.max_size), buffer.storage.max_size


def print_table(results: list[Result]) -> None:
    header = f"{'run':<36}{'steps':>8}{'updates':>9}{'wall s':>8}{'warm s':>8}{'steps/s':>9}{'updates/s':>11}"
    header += f"{'emu fps':>9}{'episodes':>10}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<36}{r.agent_steps:>8}{r.updates:>9}{r.wall_s:>8.1f}{r.warm_s:>8.1f}"
            f"{r.steps_per_s:>9.1f}{r.updates_per_s:>11.1f}{r.emulator_fps:>9.0f}{r.episodes:>10}"
        )
    plain = next((r for r in results if r.name.startswith("plain")), None)
    for r in results:
        if plain is not None and r is not plain:
            print(f"{r.name} / plain: steps/s after warm-up x{r.steps_per_s / plain.steps_per_s:.2f}")


def print_memory(buffer: ReplayBuffer) -> None:
    total, rows = replay_bytes(buffer)
    per_row = total / rows
    print(f"\nReplay memory per transition ({total:,} bytes in {rows:,} rows; one row per agent step):")
    for name, size in [
        ("lightning_dqn frame-once rows", per_row),
        ("uint8 obs + next_obs stacks", 2 * STACK_BYTES),
        ("float32 obs + next_obs stacks", 4 * 2 * STACK_BYTES),
    ]:
        print(f"  {name:<32}{size:>10,.0f} B   1M transitions: {size * 1e6 / 1e9:>6.1f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1500, help="optimizer steps per run, after the warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every run")
    parser.add_argument("--buffer-size", type=int, default=20_000, help="replay capacity in rows / transitions")
    parser.add_argument("--replay-start", type=int, default=2_000, help="agent steps of random play before updates")
    parser.add_argument("--backends", nargs="+", default=["vector", "gymnasium"], choices=["vector", "gymnasium"])
    parser.add_argument("--skip-plain", action="store_true", help="run lightning_dqn only")
    parser.add_argument("--prioritized", action="store_true", help="add a vector-back-end row with prioritized replay")
    parser.add_argument("--rainbow", action="store_true", help="add vector-back-end rows: noisy, C51, all six Rainbow parts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates-per-step", type=int, nargs="+", default=[], metavar="K",
                        help="add a vector-back-end row per K: data.updates_per_step = K")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where every run's networks live")
    parser.add_argument("--greedy", action="store_true", help=f"epsilon {EPS_FINAL} after the warm-up: every step acts with the CNN")
    args = parser.parse_args()
    if not BATCH_SIZE <= args.replay_start <= args.buffer_size:
        parser.error(f"need {BATCH_SIZE} <= --replay-start <= --buffer-size")

    torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # "GPU available: ..." lines
    warnings.filterwarnings("ignore", ".*does not have many workers.*")

    results: list[Result] = []
    buffer = None
    if not args.skip_plain:
        results.append(run_plain(args.updates, args.replay_start, args.buffer_size, args.seed, args.device, args.greedy))
    on = {"device": args.device, "greedy": args.greedy}
    for backend in dict.fromkeys(args.backends):
        result, run_buffer = run_lightning(backend, args.updates, args.replay_start, args.buffer_size, args.seed, **on)
        results.append(result)
        if buffer is None:
            buffer = run_buffer
    for k in args.updates_per_step:
        results.append(run_lightning("vector", args.updates, args.replay_start, args.buffer_size, args.seed, updates_per_step=k, **on)[0])
    if args.prioritized:
        results.append(run_lightning("vector", args.updates, args.replay_start, args.buffer_size, args.seed, True, **on)[0])
    if args.rainbow:
        for name in RAINBOW_ROWS:
            results.append(run_lightning("vector", args.updates, args.replay_start, args.buffer_size, args.seed, variant=name, **on)[0])
    assert torch.get_num_threads() == args.threads, "something changed the torch thread count"
    print(
        f"{ENV_ID}, {NUM_ENVS} envs, {args.updates} updates after {args.replay_start} steps of warm-up"
        f"{', greedy (epsilon 0.01)' if args.greedy else ''}, "
        f"buffer {args.buffer_size}, torch threads {args.threads}, {device_name(args.device)}, seed {args.seed}"
    )
    print_table(results)
    print_memory(buffer)


if __name__ == "__main__":
    main()
