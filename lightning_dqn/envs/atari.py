"""Atari games with the seed's preprocessing, behind one switch between two back ends.

Both back ends turn an ALE game into what the Nature CNN reads, with the seed's tricks:

- FIRE on reset (games that need it to start), up to ``noop_max`` random no-ops at reset;
- ``frame_skip`` emulator frames per agent step, max-pooled over the last two (flicker);
- 84x84 grayscale, resized from the whole screen (the seed crops the score; neither back end can,
  so both keep it);
- channel-first uint8, the last ``frame_stack`` frames, zero-padded at an episode's start
  (the network scales to [0, 1] itself, so the replay stores bytes);
- losing a life ends the *learning* episode (no bootstrap through it) but not the game: the
  transition carries ``info["life_lost"]`` and the game goes on, as in DQN's original setup.
  Evaluation envs never set it, and an episode's return is always a whole game.

``vector`` runs ``ale_py.vector_env.AtariVectorEnv`` (C++ threads, about 2-3x faster here);
``gymnasium`` stacks gymnasium's ``AtariPreprocessing`` and ``FrameStackObservation`` plus two small
wrappers below. Tests check that both give the same shapes, dtypes, stack order and flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv, VectorWrapper
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from lightning_dqn.errors import ConfigError

BACKENDS = ("vector", "gymnasium")


@dataclass
class AtariOptions:
    """Preprocessing of Atari games (ignored for other envs).

    Args:
        backend: ``vector`` (ale_py's AtariVectorEnv, C++ threads) or ``gymnasium`` (Python wrappers).
        frame_skip: Emulator frames per agent step (seed: 4); the last two are max-pooled.
        frame_stack: Frames per observation (seed: 4).
        noop_max: Up to this many random no-op agent steps at reset (DQN: 30; 0 turns it off).
        fire_reset: Press FIRE after reset in games that have it (seed's ``FireResetEnv``).
        terminal_on_life_loss: Training only: a lost life ends the learning episode (no bootstrap).
        num_threads: Emulator threads of the ``vector`` back end (0 = one per env, up to the cores).
    """

    backend: str = "vector"
    frame_skip: int = 4
    frame_stack: int = 4
    noop_max: int = 30
    fire_reset: bool = True
    terminal_on_life_loss: bool = True
    num_threads: int = 0

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError("data.atari.backend", f"must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        for name in ("frame_skip", "frame_stack"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.atari.{name}", f"must be >= 1, got {getattr(self, name)}")
        if self.noop_max < 0:
            raise ConfigError("data.atari.noop_max", f"must be >= 0, got {self.noop_max}")


def is_atari(env_id: str) -> bool:
    """Whether gymnasium makes ``env_id`` from ale_py (``ALE/Pong-v5``, ``PongNoFrameskip-v4``...)."""
    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:
        return env_id.startswith("ALE/") or "NoFrameskip" in env_id
    try:
        return "ale_py" in str(gym.spec(env_id).entry_point)
    except gym.error.Error:
        return False


def _spec_kwargs(env_id: str) -> dict[str, Any]:
    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:
        raise ConfigError("data.env_id", f"{env_id!r} needs the Atari extra: pip install 'gymnasium[atari]'") from None
    try:
        return dict(gym.spec(env_id).kwargs)
    except gym.error.Error as err:
        raise ConfigError("data.env_id", f"gymnasium cannot make {env_id!r} ({err})") from None


class FireOnReset(gym.Wrapper):
    """Presses FIRE once after every reset, as games like Breakout need to start (seed: ``FireResetEnv``)."""

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        return obs, info


class LifeLossInfo(gym.Wrapper):
    """Marks the step that loses a life with ``info["life_lost"]``; the episode (the game) goes on."""

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        info["life_lost"] = lives < self._lives and not terminated
        self._lives = lives
        return obs, reward, terminated, truncated, info


class VectorLifeLoss(VectorWrapper):
    """AtariVectorEnv's ``life_loss_info`` reports a lost life as ``terminated`` without a reset.

    This moves it to ``info["life_lost"]``, so ``terminated`` means game over in both back ends.
    """

    def step(self, actions: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        game_over = terminated & (info["lives"] == 0)
        info["life_lost"] = terminated & ~game_over
        return obs, reward, game_over, truncated, info


def make_atari_env(
    env_id: str,
    options: AtariOptions,
    env_kwargs: dict[str, Any] | None = None,
    training: bool = False,
    **make_kwargs: Any,
) -> gym.Env:
    """One preprocessed game through gymnasium's wrappers (evaluation always uses this one).

    ``env_kwargs`` go to ``gym.make`` (e.g. ``repeat_action_probability``); the frame skip moves
    from the emulator into ``AtariPreprocessing``, which max-pools the last two frames.
    """
    kwargs = {**_spec_kwargs(env_id), **(env_kwargs or {}), **make_kwargs, "frameskip": 1}
    kwargs.pop("game", None)
    try:
        env = gym.make(env_id, **kwargs)
    except TypeError as err:
        raise ConfigError("data.env_kwargs", f"{env_id!r} rejects {env_kwargs} ({err})") from None
    if options.fire_reset and "FIRE" in env.unwrapped.get_action_meanings():
        env = FireOnReset(env)  # below the frame skip: FIRE for one emulator frame, as the vector back end
    env = AtariPreprocessing(
        env, noop_max=options.noop_max, frame_skip=options.frame_skip, screen_size=84, grayscale_obs=True
    )
    if training and options.terminal_on_life_loss:
        env = LifeLossInfo(env)
    return FrameStackObservation(env, options.frame_stack, padding_type="zero")


def make_atari_vector_env(
    env_id: str, options: AtariOptions, num_envs: int, env_kwargs: dict[str, Any] | None = None
) -> VectorEnv:
    """``num_envs`` training games with next-step autoreset, on the chosen back end."""
    options.check()
    if options.backend == "gymnasium":
        fns = [lambda: make_atari_env(env_id, options, env_kwargs, training=True) for _ in range(num_envs)]
        return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    from ale_py.vector_env import AtariVectorEnv

    spec = {**_spec_kwargs(env_id), **(env_kwargs or {})}
    unknown = set(env_kwargs or {}) - {"repeat_action_probability", "full_action_space", "max_num_frames_per_episode"}
    if unknown:
        raise ConfigError("data.env_kwargs", f"the vector Atari back end does not take {sorted(unknown)}")
    env = AtariVectorEnv(
        spec["game"],
        num_envs,
        num_threads=options.num_threads,
        max_num_frames_per_episode=spec.get("max_num_frames_per_episode", 108_000),
        repeat_action_probability=spec.get("repeat_action_probability", 0.0),
        full_action_space=spec.get("full_action_space", False),
        autoreset_mode=AutoresetMode.NEXT_STEP,
        stack_num=options.frame_stack,
        frameskip=options.frame_skip,
        noop_max=options.noop_max,
        use_fire_reset=options.fire_reset,
        life_loss_info=options.terminal_on_life_loss,
        reward_clipping=False,
    )
    return VectorLifeLoss(env) if options.terminal_on_life_loss else env


__all__ = [
    "BACKENDS",
    "AtariOptions",
    "FireOnReset",
    "LifeLossInfo",
    "VectorLifeLoss",
    "is_atari",
    "make_atari_env",
    "make_atari_vector_env",
]
