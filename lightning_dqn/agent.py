"""The acting side of DQN: epsilon-greedy steps in a vector env, written to the replay buffer."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from tensordict import TensorDict
from torch import nn
from torchrl.data import ReplayBuffer

from lightning_dqn.replay.n_step import NStepTransitions

REWARD_WINDOW = 100  # episodes in the moving mean the seed reports as "mean reward"


def as_obs_tensor(obs: np.ndarray) -> torch.Tensor:
    """Observations as stored and fed to the net: uint8 kept (images), other numbers as float32."""
    tensor = torch.from_numpy(np.asarray(obs))
    return tensor if tensor.dtype == torch.uint8 else tensor.float()


@dataclass
class AgentStep:
    """One step of every env: what the agent saw, did, and got back (arrays with one row per env).

    ``real`` is False for an env's autoreset step (it returns the reset observation and ignores the
    action). ``terminated`` is the *learning* terminal: the game ended, or a life was lost with
    ``info["life_lost"]`` (Atari's training envs). ``obs_step`` is ``obs``'s step within its episode.
    """

    obs: np.ndarray
    obs_step: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    real: np.ndarray

    def real_transitions(self) -> tuple[np.ndarray, ...]:
        """``(obs, action, reward, next_obs, terminated, truncated)`` of the real rows only."""
        parts = (self.obs, self.action, self.reward, self.next_obs, self.terminated, self.truncated)
        return parts if self.real.all() else tuple(p[self.real] for p in parts)


def transitions_to_tensordict(
    obs: np.ndarray,
    action: np.ndarray,
    reward: np.ndarray,
    next_obs: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    steps: np.ndarray | None = None,
) -> TensorDict:
    """Transitions in TorchRL's key layout, ready for ``ReplayBuffer.extend``.

    n-step transitions (``replay.n_step``) also give ``steps``, and ``reward`` is ``[k, n_step]``."""
    following = {
        "observation": as_obs_tensor(next_obs),
        "reward": torch.from_numpy(reward).float(),
        "terminated": torch.from_numpy(terminated),
        "truncated": torch.from_numpy(truncated),
    }
    if steps is not None:
        following["steps"] = torch.from_numpy(steps)
    return TensorDict(
        {"observation": as_obs_tensor(obs), "action": torch.from_numpy(action), "next": following},
        batch_size=[len(action)],
    )


class TransitionWriter:
    """Writes the real transitions of a list of steps to a transition buffer with one ``extend``.

    Building a TensorDict and extending the buffer cost far more per call than per transition.
    With ``n_step`` > 1 it writes n-step transitions as their windows close (``replay.n_step``).
    """

    def __init__(self, buffer: ReplayBuffer, n_step: int = 1):
        self.buffer = buffer
        self.windows = NStepTransitions(n_step) if n_step > 1 else None

    def write(self, steps: list[AgentStep]) -> None:
        if self.windows is None:
            chunks = [step.real_transitions() for step in steps if step.real.any()]
        else:
            chunks = [closed for closed in map(self.windows.push, steps) if closed is not None]
        if chunks:
            joined = chunks[0] if len(chunks) == 1 else [np.concatenate(parts) for parts in zip(*chunks)]
            self.extend(transitions_to_tensordict(*joined))

    def drop_open_windows(self) -> None:
        """The envs start fresh episodes: n-step windows still open can never close."""
        if self.windows is not None:
            self.windows.drop_open()

    def extend(self, batch: TensorDict) -> None:
        self.buffer.extend(batch)


class Agent:
    """Plays ``num_envs`` environments at once and stores every real transition.

    Counting is in *frames*: one frame is one transition of one env (an agent step), so schedules
    set in frames stay correct for any ``num_envs``.

    Gymnasium 1.x vector envs autoreset on the step *after* an episode ends: that step returns the
    reset observation, ignores the action and is not a transition (``AgentStep.real`` is False).
    The step that ended the episode carries its true last observation and two flags:
    ``terminated`` (no bootstrap: the episode really ended) and ``truncated`` (time limit:
    bootstrap from it). ``writer`` decides what reaches the buffer: ``TransitionWriter`` (default)
    keeps the real transitions; ``frame_replay.FrameWriter`` keeps one row per step.
    """

    def __init__(
        self, env: VectorEnv, buffer: ReplayBuffer, seed: int = 0, writer: TransitionWriter | None = None
    ):
        self.env = env
        self.buffer = buffer
        self.writer = writer or TransitionWriter(buffer)
        self.num_envs = env.num_envs
        self.n_actions = int(env.single_action_space.n)
        self.rng = np.random.default_rng(seed)
        self.epsilon = 1.0
        self.frames = 0
        self.episodes = 0
        self.recent_returns: deque[float] = deque(maxlen=REWARD_WINDOW)
        self.recent_lengths: deque[int] = deque(maxlen=REWARD_WINDOW)
        self._episode_return = np.zeros(self.num_envs)
        self._episode_length = np.zeros(self.num_envs, dtype=np.int64)
        self._obs, _ = env.reset(seed=seed)
        self._obs_step = np.zeros(self.num_envs, dtype=np.int64)
        self._autoresetting = np.zeros(self.num_envs, dtype=bool)

    def start_episodes(self, env: VectorEnv) -> None:
        """Plays on ``env`` from fresh episodes (the datamodule reopens its envs for another ``fit``).

        The unfinished episodes are dropped from the statistics; counters, RNG and buffer go on.
        """
        self.env = env
        self.writer.drop_open_windows()
        self._episode_return[:] = 0.0
        self._episode_length[:] = 0
        self._obs, _ = env.reset(seed=int(self.rng.integers(2**31)))
        self._obs_step[:] = 0
        self._autoresetting[:] = False

    @property
    def mean_return(self) -> float:
        """Mean return of the last ``REWARD_WINDOW`` finished episodes (NaN before the first)."""
        return float(np.mean(self.recent_returns)) if self.recent_returns else float("nan")

    def act(self, q_net: nn.Module | None, epsilon: float, device: torch.device | None = None) -> np.ndarray:
        """One action per env: random with probability ``epsilon``, else ``argmax_a Q(s, a)``.

        ``device`` is the net's; ``play`` looks it up once per call rather than once per step.
        """
        actions = self.rng.integers(self.n_actions, size=self.num_envs)
        greedy = self.rng.random(self.num_envs) >= epsilon
        if q_net is not None and greedy.any():
            device = device or next(q_net.parameters()).device
            with torch.inference_mode():  # no autograd bookkeeping at all: 2-3% off a forward here
                q = q_net(as_obs_tensor(self._obs[greedy]).to(device))
            actions[greedy] = q.argmax(dim=1).cpu().numpy()
        return actions

    def _step(self, q_net: nn.Module | None, epsilon: float | None, device: torch.device | None = None) -> AgentStep:
        """Step every env once and keep the episode statistics (of whole games) up to date."""
        actions = self.act(q_net, self.epsilon if epsilon is None else epsilon, device)
        next_obs, reward, terminated, truncated, info = self.env.step(actions)
        real = ~self._autoresetting
        self._autoresetting = terminated | truncated
        life_lost = info.get("life_lost")
        learning_terminal = terminated if life_lost is None else terminated | life_lost
        step = AgentStep(self._obs, self._obs_step, actions, reward, next_obs, learning_terminal, truncated, real)
        self._obs = next_obs
        if real.all():  # the usual step: no masks (the same sums, fewer numpy calls per frame)
            self._obs_step = self._obs_step + 1  # a new array: ``step`` keeps the old one
            self._episode_return += reward
            self._episode_length += 1
            self.frames += self.num_envs
        else:
            self._obs_step = np.where(real, self._obs_step + 1, 0)
            self._episode_return[real] += reward[real]
            self._episode_length[real] += 1
            self.frames += int(real.sum())
        ended = real & self._autoresetting
        if ended.any():
            for i in np.flatnonzero(ended):
                self.recent_returns.append(float(self._episode_return[i]))
                self.recent_lengths.append(int(self._episode_length[i]))
                self._episode_return[i] = 0.0
                self._episode_length[i] = 0
                self.episodes += 1
        return step

    def step(self, q_net: nn.Module | None, epsilon: float | None = None) -> TensorDict | None:
        """Step every env once; return the real transitions of this step (``None`` if there are none)."""
        step = self._step(q_net, epsilon)
        return transitions_to_tensordict(*step.real_transitions()) if step.real.any() else None

    def play(self, q_net: nn.Module | None, frames: int, epsilon: float | None = None) -> int:
        """Step until at least ``frames`` new transitions are played, write them once; return how many."""
        steps: list[AgentStep] = []
        start = self.frames  # each step adds its real transitions to ``frames``
        device = next(q_net.parameters()).device if q_net is not None else None
        while self.frames - start < frames:
            steps.append(self._step(q_net, epsilon, device))
        if steps:
            self.writer.write(steps)
        return self.frames - start

    def state_dict(self) -> dict:
        """Counters and the reward window, so a resumed run continues its schedules and its stats."""
        return {
            "frames": self.frames,
            "episodes": self.episodes,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.frames = state["frames"]
        self.episodes = state["episodes"]
        self.recent_returns.extend(state["recent_returns"])
        self.recent_lengths.extend(state["recent_lengths"])
        self.rng.bit_generator.state = state["rng"]


__all__ = ["REWARD_WINDOW", "Agent", "AgentStep", "TransitionWriter", "as_obs_tensor", "transitions_to_tensordict"]
