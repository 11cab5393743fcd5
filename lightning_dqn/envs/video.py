"""Evaluation episodes as MP4 files: gymnasium's ``RecordVideo``, checked before any training."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
from gymnasium.wrappers import RecordVideo

from lightning_dqn.errors import ConfigError


def check_video_recording(make_env: Callable[..., gym.Env], env_id: str) -> None:
    """Renders one frame and loads the video writer now, not after hours of training.

    ``make_env(render_mode=...)`` builds the env as evaluation will; a failure is one ``ConfigError``."""
    try:
        import moviepy  # noqa: F401 - RecordVideo's writer

        env = make_env(render_mode="rgb_array")
        env.reset(seed=0)
        frame = env.render()
        env.close()
    except (ImportError, gym.error.Error) as err:
        raise ConfigError("data.record_video", f"cannot record {env_id!r} ({err})") from None
    if frame is None:
        raise ConfigError("data.record_video", f"{env_id!r} renders no rgb_array frames")


def recording(env: gym.Env, folder: str, frame_skip: int = 1) -> RecordVideo:
    """``env`` wrapped to record on demand (``start_recording``) into ``folder``.

    It records once per agent step: on Atari that is every ``frame_skip``-th emulator frame, so the
    video plays at the game's speed at ``render_fps / frame_skip`` frames per second."""
    fps = max(1, round(env.metadata.get("render_fps", 30) / frame_skip))
    return RecordVideo(env, folder, episode_trigger=lambda _: False, fps=fps, disable_logger=True)


__all__ = ["check_video_recording", "recording"]
