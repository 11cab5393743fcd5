"""MinAtar (Young & Tian 2019): five Atari-like games on a 10x10 grid, by gymnasium id.

``MinAtar/<Game>-v0`` has the full action set (6 actions, the paper's), ``-v1`` the game's minimal
set; the games are Asterix, Breakout, Freeway, Seaquest and SpaceInvaders. The ids exist only once
``minatar.gym.register_envs()`` has run, so ``make_env`` calls ``register_minatar`` for any id that
starts with ``MinAtar/``; the package is an optional extra (``pip install -e ".[minatar]"``).

The games keep their own sticky actions (probability 0.1) and difficulty ramping, as in the paper,
and no time limit: ``truncated`` is always False. Breakout, Asterix, Seaquest and Space Invaders end
when the agent loses; Freeway ends after 2,500 frames. A good agent can make the others run very long
(a Space Invaders agent that clears waves forever), so ``data.env_kwargs: {max_episode_steps: N}``
adds gymnasium's ``TimeLimit``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from lightning_dqn.errors import ConfigError

NAMESPACE = "MinAtar/"


def is_minatar(env_id: str) -> bool:
    return env_id.startswith(NAMESPACE)


def register_minatar(env_id: str) -> None:
    """Register MinAtar's ids with gymnasium (once), or say how to install the package."""
    if "MinAtar/Breakout-v0" in gym.registry:  # registered already (an unknown game then fails in gym.make)
        return
    try:
        from minatar.gym import register_envs
    except ImportError:
        raise ConfigError(
            "data.env_id", f"{env_id!r} needs the MinAtar package: pip install -e \".[minatar]\""
        ) from None
    register_envs()


class ChannelFirstBytes(gym.ObservationWrapper):
    """MinAtar's bool ``(10, 10, C)`` grid -> uint8 ``(C, 10, 10)`` of 0s and 1s.

    Channel-first is what ``Conv2d`` reads; bytes, not float32, are what the replay buffer stores
    (400 bytes for Breakout's 4 channels instead of 1,600). ``MinAtarCNN`` turns them into floats
    without the /255 an image network applies.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        height, width, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 1, (channels, height, width), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(observation, -1, 0), dtype=np.uint8)


__all__ = ["NAMESPACE", "ChannelFirstBytes", "is_minatar", "register_minatar"]
