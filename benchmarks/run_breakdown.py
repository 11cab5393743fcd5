"""Where a real training run's time goes: ``python -m lightning_dqn fit`` with timers on its hot calls.

Why: the same calls cost two to three times more inside a run than in a small process of their
own (caches, the interpreter's working set), so a speed question is answered inside a real run.
This runs the CLI in this process with every argument passed through, wraps the calls below with
wall-clock timers (about a microsecond each) and prints, per Lightning step and per update:

    Lightning steps   the training loop's steps, everything included (the batch's play and sample too)
    play              playing a batch's frames: acting (the forward pass and epsilon-greedy),
                      the vector env's step, writing to the replay buffer
    sample            the replay buffer's sample
    loss              the loss's forward passes (``DQN.loss_terms``)
    backward          autograd's backward
    optimizer         zeroing the gradients, clipping their norm, the optimizer's step (with one
                      update per step, Lightning's closure around the loss is in the step)
    after each update the callbacks' per-update hooks (epsilon, target sync), the noise
    the rest          Lightning's loop and hooks, handing batches over, checks, logging

    python benchmarks/run_breakdown.py fit --config experiments/cartpole_fast.yaml --trainer.logger false
"""

from __future__ import annotations

import collections
import functools
import sys
import time

START = time.perf_counter()

import lightning_dqn  # noqa: E402  first, as ``python -m lightning_dqn`` imports it
from lightning_dqn import agent, module  # noqa: E402

import gymnasium  # noqa: E402
import torch  # noqa: E402
from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop  # noqa: E402
from torchrl.data import ReplayBuffer  # noqa: E402

from lightning_dqn.replay import frames  # noqa: E402

seconds: dict[str, float] = collections.defaultdict(float)
calls: collections.Counter[str] = collections.Counter()
first_env_step: list[float] = []


nested_in_active: list[float] = []  # per timed call in progress: time of the timed calls inside it


def timed(owner: object, name: str, label: str, exclusive: bool = False) -> None:
    """Replaces ``owner.name`` by the same call, timed into ``seconds[label]``; ``exclusive``: less
    the timed calls made inside it (Lightning's automatic optimization runs the loss and backward
    inside the optimizer's step, as its closure)."""
    call = getattr(owner, name)

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        nested_in_active.append(0.0)
        try:
            return call(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - begin
            nested = nested_in_active.pop()
            seconds[label] += elapsed - nested if exclusive else elapsed
            calls[label] += 1
            if nested_in_active:
                nested_in_active[-1] += elapsed

    setattr(owner, name, wrapper)


def note_first_env_step(owner: object) -> None:
    step = owner.step

    def wrapper(self, *args, **kwargs):
        if not first_env_step:
            first_env_step.append(time.perf_counter() - START)
        return step(self, *args, **kwargs)

    owner.step = wrapper


def install() -> None:
    timed(_TrainingEpochLoop, "advance", "Lightning steps")
    timed(agent.Agent, "play", "play")
    timed(agent.Agent, "act", "play: acting")
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    envs = [gymnasium.vector.SyncVectorEnv, CartPoleVectorEnv]  # and CartPole's own (vector_entry_point)
    try:
        from ale_py.vector_env import AtariVectorEnv

        envs.append(AtariVectorEnv)
    except ImportError:  # no Atari extra: no Atari runs either
        pass
    for env in envs:
        timed(env, "step", "play: vector env step")
        note_first_env_step(env)
    timed(agent.TransitionWriter, "write", "play: writing")
    timed(frames.FrameWriter, "write", "play: writing")
    timed(ReplayBuffer, "sample", "sample")
    timed(module.DQN, "loss_terms", "loss")
    timed(torch.autograd, "backward", "backward")
    timed(torch.optim.Optimizer, "zero_grad", "optimizer: zero grad")
    timed(torch.nn.utils, "clip_grad_norm_", "optimizer: clipping")
    for optimizer in (torch.optim.Adam, torch.optim.RMSprop):
        timed(optimizer, "step", "optimizer: step", exclusive=True)
    timed(module.DQN, "_after_update", "after each update")


def report(updates: int) -> None:
    steps = calls["Lightning steps"]
    total = seconds["Lightning steps"]
    parts = ("play", "sample", "loss", "backward", "after each update")
    rest = total - sum(seconds[k] for k in parts) - sum(s for k, s in seconds.items() if k.startswith("optimizer"))
    print(f"\nfirst env step {first_env_step[0] if first_env_step else float('nan'):.2f} s after the start; "
          f"{steps} Lightning steps, {updates} updates; whole process so far {time.perf_counter() - START:.1f} s")
    print(f"{'':24s}{'s':>9}{'calls':>9}{'ms per call':>13}{'ms per update':>15}")
    rows = [*(k for k in seconds if k != "Lightning steps"), "the rest"]
    order = ("play", "sample", "loss", "backward", "optimizer", "after each update", "the rest")
    for label in ["Lightning steps", *sorted(rows, key=lambda k: (order.index(k.split(":")[0]), k))]:
        s = rest if label == "the rest" else seconds[label]
        n = steps if label == "the rest" else calls[label]
        print(f"{label:24s}{s:9.2f}{n:9d}{s / max(n, 1) * 1e3:13.3f}{s / max(updates, 1) * 1e3:15.3f}")


def main() -> None:
    install()
    from lightning_dqn.cli import DQNCLI

    captured: list[DQNCLI] = []
    init = DQNCLI.__init__

    def keep(self, *args, **kwargs):  # the CLI object, for its trainer's update count
        captured.append(self)
        init(self, *args, **kwargs)

    DQNCLI.__init__ = keep
    sys.argv = ["lightning_dqn", *sys.argv[1:]]
    try:
        lightning_dqn.cli.main()
    finally:
        updates = captured[0].trainer.global_step if captured and hasattr(captured[0], "trainer") else 0
        report(updates)


if __name__ == "__main__":
    main()
