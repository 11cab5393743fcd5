"""Iterable datasets that turn acting into batches: training experience and evaluation episodes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict
from torch import nn
from torch.utils.data import IterableDataset
from torchrl.data import ReplayBuffer

from lightning_dqn.agent import Agent, as_obs_tensor


class ExperienceStream(IterableDataset):
    """Endless stream of replay batches: each item plays ``frames_per_batch`` frames, then samples.

    The first iteration fills the buffer with ``replay_start_size`` frames of uniformly random play
    (counted as frames, as the seed counts them). ``frames_per_batch`` is the replay ratio: frames
    played per gradient step (the seed plays 1). With ``num_envs`` > ``frames_per_batch`` one env
    step overshoots; the surplus is carried over so the long-run ratio stays exact.

    The stream never ends: bound the run with ``trainer.max_steps`` or a ``RewardBound`` callback.
    Lightning prefetches one batch, so each batch's frames are played with the network as it was one
    update earlier.

    With ``updates_per_step`` K > 1 each item is an ``UpdateGroup`` instead: a lazy iterable of K
    such "play, then sample" batches, which the module trains on one after another inside a single
    Lightning step (Lightning's per-step work is paid once per K updates). Nothing is played until
    the module asks for the next batch, so each batch is played with the network of the update just
    made.
    """

    def __init__(
        self,
        agent: Agent,
        buffer: ReplayBuffer,
        q_net: nn.Module,
        frames_per_batch: int,
        replay_start_size: int,
        sample: Callable[[], TensorDict] | None = None,
        updates_per_step: int = 1,
    ):
        super().__init__()
        self.agent = agent
        self.buffer = buffer
        self.q_net = q_net
        self.frames_per_batch = frames_per_batch
        self.replay_start_size = replay_start_size
        self.sample = sample or buffer.sample  # prioritized replay passes its own (PrioritizedSampling)
        self.updates_per_step = updates_per_step
        self._frames_owed = 0

    def play_and_sample(self) -> TensorDict:
        """Plays this batch's share of frames with the live network, then samples a batch."""
        self._frames_owed += self.frames_per_batch
        self._frames_owed -= self.agent.play(self.q_net, self._frames_owed)
        return self.sample()

    def __iter__(self) -> Iterator[TensorDict]:
        missing = self.replay_start_size - len(self.buffer)
        if missing > 0:
            self.agent.play(None, missing, epsilon=1.0)
        if self.updates_per_step == 1:
            while True:
                yield self.play_and_sample()
        while True:
            yield UpdateGroup(self.play_and_sample, self.updates_per_step)


class UpdateGroup:
    """The K batches of one Lightning step (``data.updates_per_step``), played and sampled lazily.

    Iterating plays and samples one batch at a time, passing each through ``steps`` in order (the
    datamodule adds its move to the device and prioritized replay's tracking there, the work
    Lightning does once for an ordinary batch). The consumer may stop early (at ``max_steps``):
    batches it never asked for are never played.
    """

    def __init__(self, next_batch: Callable[[], TensorDict], size: int):
        self.next_batch = next_batch
        self.size = size
        self.steps: list[Callable[[TensorDict], TensorDict]] = []

    def then(self, step: Callable[[TensorDict], TensorDict]) -> UpdateGroup:
        """Adds ``step`` to what every batch goes through when it is drawn; returns the group."""
        self.steps.append(step)
        return self

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[TensorDict]:
        for _ in range(self.size):
            batch = self.next_batch()
            for step in self.steps:
                batch = step(batch)
            yield batch


class EvaluationEpisodes(IterableDataset):
    """``episodes`` whole episodes on a separate env, acting greedily (or with ``epsilon``).

    Each item is one finished episode: ``{"return": float tensor, "length": int tensor}``. It never
    touches the replay buffer or the training counters. Every evaluation resets the env with
    ``seed``, so the same weights and seed give the same episodes. With ``video_name`` (and ``env``
    wrapped in gymnasium's ``RecordVideo``) the first episode of each evaluation is recorded to
    ``<video_name()>.mp4``; ``last_video`` is its path.
    """

    def __init__(
        self,
        env: gym.Env,
        q_net: nn.Module,
        episodes: int,
        epsilon: float = 0.0,
        seed: int = 0,
        video_name: Callable[[], str] | None = None,
    ):
        super().__init__()
        self.env = env
        self.q_net = q_net
        self.episodes = episodes
        self.epsilon = epsilon
        self.seed = seed
        self.video_name = video_name
        self.last_video: str | None = None

    def _action(self, obs: np.ndarray) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.env.action_space.n))
        device = next(self.q_net.parameters()).device
        with torch.inference_mode():
            q = self.q_net(as_obs_tensor(obs[None]).to(device))
        return int(q.argmax(dim=1).item())

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        self.rng = np.random.default_rng(self.seed)
        obs, _ = self.env.reset(seed=self.seed)
        name = self.video_name() if self.video_name is not None else None
        if name is not None:  # after the reset: RecordVideo ends open-ended recordings on reset
            self.env.start_recording(name)
        for episode in range(self.episodes):
            total, length, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = self.env.step(self._action(obs))
                total += float(reward)
                length += 1
                done = terminated or truncated
            if episode == 0 and name is not None:
                self.env.stop_recording()
                self.last_video = os.path.join(self.env.video_folder, f"{name}.mp4")
            yield {"return": torch.tensor(total), "length": torch.tensor(length)}
            if episode + 1 < self.episodes:
                obs, _ = self.env.reset()


__all__ = ["EvaluationEpisodes", "ExperienceStream", "UpdateGroup"]
