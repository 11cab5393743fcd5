"""n-step transitions written as they complete are exactly the frame layout's n-step transitions.

One agent plays real CartPole envs (a time limit of 15 steps, so episodes end both ways:
terminated and truncated) and hands the same steps to both writers. Every transition the frames
layout can sample, rebuilt by its transform, must be in the transitions buffer, and nothing else.
"""

import numpy as np
import pytest
import torch

from lightning_dqn.agent import Agent, TransitionWriter
from lightning_dqn.envs.generic import make_vector_env
from lightning_dqn.replay.frames import FrameWriter, _bookkeeping, _window_offsets, make_frame_replay, window_validity
from lightning_dqn.replay.memory import build_replay_memory
from lightning_dqn.replay.transitions import make_replay_buffer

NUM_ENVS, N_STEP = 3, 3


class BothWriters:
    """Gives every played step to an n-step transition writer and to a frame writer."""

    def __init__(self, transitions: TransitionWriter, frames: FrameWriter):
        self.writers = (transitions, frames)

    def write(self, steps):
        for writer in self.writers:
            writer.write(steps)

    def drop_open_windows(self):
        for writer in self.writers:
            writer.drop_open_windows()


def as_records(batch) -> list[tuple]:
    """Each transition as a hashable record: obs, action, rewards, steps, next obs, flags."""
    return sorted(
        (
            tuple(batch["observation"][i].tolist()),
            int(batch["action"][i]),
            tuple(batch["next", "reward"][i].tolist()),
            int(batch["next", "steps"][i]),
            tuple(batch["next", "observation"][i].tolist()),
            bool(batch["next", "terminated"][i]),
            bool(batch["next", "truncated"][i]),
        )
        for i in range(batch.shape[0])
    )


def every_frame_transition(buffer) -> list[tuple]:
    """All valid windows of a frame replay (nothing overwritten), rebuilt by its own transform."""
    filled = len(buffer)
    windows = np.arange(filled)[:, None] + _window_offsets(1, N_STEP) * NUM_ENVS
    np.minimum(windows, filled - 1, out=windows)
    row_id, episode_step, terminated, truncated = (column[windows] for column in _bookkeeping(buffer.storage))
    valid, _, _ = window_validity(row_id, episode_step, terminated | truncated, NUM_ENVS, 1, N_STEP)
    rows = buffer.storage.get(torch.from_numpy(windows[valid]))
    return as_records(buffer._transform(rows))


def play_both(frames: int, second_fit: bool = False):
    env = make_vector_env("CartPole-v1", {"max_episode_steps": 15}, NUM_ENVS)
    transitions = make_replay_buffer(100_000, 32)
    frame_rows = make_frame_replay(100_000, 32, NUM_ENVS, 1, N_STEP, stacked=False)
    writer = BothWriters(TransitionWriter(transitions, N_STEP), FrameWriter(frame_rows, stacked=False))
    agent = Agent(env, transitions, seed=0, writer=writer)
    agent.play(None, frames // 2)
    never_acted_from = agent._obs.tolist()
    if second_fit:  # the datamodule reopens its envs: open windows must not continue into new episodes
        agent.start_episodes(make_vector_env("CartPole-v1", {"max_episode_steps": 15}, NUM_ENVS))
    agent.play(None, frames - frames // 2)
    if not second_fit:
        never_acted_from = []
    return agent, transitions, frame_rows, {tuple(obs) for obs in never_acted_from + agent._obs.tolist()}


@pytest.mark.parametrize("second_fit", [False, True])
def test_n_step_transitions_are_the_frame_layouts_transitions(second_fit):
    agent, transitions, frame_rows, never_acted_from = play_both(1200, second_fit)
    written = as_records(transitions.storage.get(torch.arange(len(transitions))))
    rebuilt = every_frame_transition(frame_rows)
    assert len(rebuilt) > 1000 and set(rebuilt) <= set(written)
    # The frame layout stores an observation when it is acted from, so windows closed by the last
    # step played (before the envs were reopened, and at the end) never reach it: those, and only
    # those, are extra in the transitions buffer.
    extra = set(written) - set(rebuilt)
    assert all(record[4] in never_acted_from for record in extra)
    steps = [record[3] for record in written]
    truncated = [record for record in written if record[6]]
    terminated = [record for record in written if record[5]]
    # all three spans occur, episodes ended both ways, and the rewards after an end are zeros
    assert set(steps) == {1, 2, 3} and truncated and terminated
    assert all(record[2] == (1.0,) * record[3] + (0.0,) * (N_STEP - record[3]) for record in written)
    # one transition per real step but those whose window was still open when play stopped (and,
    # with a second fit, when the envs were reopened: those windows were dropped)
    still_open = NUM_ENVS * (N_STEP - 1) * (2 if second_fit else 1)
    assert agent.frames - still_open <= len(written) <= agent.frames


def test_transitions_layout_with_n_step_through_the_replay_memory():
    memory = build_replay_memory("transitions", 1000, 16, 2, N_STEP, 1, False, frames=lambda: 0)
    agent = Agent(make_vector_env("CartPole-v1", None, 2), memory.buffer, seed=0, writer=memory.writer)
    agent.play(None, 200)
    batch = memory.buffer.sample()
    assert batch["next", "reward"].shape == (16, N_STEP) and batch["next", "steps"].dtype == torch.int64
    assert ((batch["next", "steps"] >= 1) & (batch["next", "steps"] <= N_STEP)).all()
