"""The replay buffer in checkpoints: saved once beside them (the default), or inside each one.

A Pong buffer of 1M transitions is 7 GB. Inside the checkpoint it would be pickled into every
``last.ckpt`` and every periodic checkpoint, and loading a model would read it all. Here each save
writes the buffer with TorchRL's own ``ReplayBuffer.dumps`` (storage, sampler state such as
priorities, writer) to ``<checkpoint dir>/replay/rank<r>/``, replacing the previous dump, and the
checkpoint records only where it is and which step it belongs to. Each rank dumps its own buffer.

The dump is written next to the old one and swapped in by renames, so an interrupted save never
leaves a half-written buffer in place. Only the newest full checkpoint matches the dump: resuming
from an older one is refused with one line rather than resumed with the wrong memory.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import torch
from torchrl.data import PrioritizedSampler, ReplayBuffer

from lightning_dqn.errors import ConfigError

STAMP_FILE = "saved_at.json"


def rank_directory(replay_dir: str, rank: int) -> str:
    return os.path.join(replay_dir, f"rank{rank}")


def dump_beside(buffer: ReplayBuffer, replay_dir: str, rank: int, global_step: int, frames: int) -> dict:
    """Writes ``buffer`` to ``replay_dir/rank<rank>`` unless that already holds this very state (a
    second checkpoint of the same step); returns the record the checkpoint keeps."""
    stamp = {"global_step": int(global_step), "frames": int(frames), "rows": len(buffer)}
    target = rank_directory(replay_dir, rank)
    if _read_stamp(target) != stamp:
        writing, old = f"{target}.writing", f"{target}.old"
        shutil.rmtree(writing, ignore_errors=True)
        os.makedirs(writing)
        buffer.dumps(writing)
        with open(os.path.join(writing, STAMP_FILE), "w") as f:
            json.dump(stamp, f)
        if os.path.isdir(target):
            shutil.rmtree(old, ignore_errors=True)
            os.rename(target, old)
        os.rename(writing, target)
        shutil.rmtree(old, ignore_errors=True)
    return {"dir": os.path.abspath(replay_dir), **stamp}


def load_beside(buffer: ReplayBuffer, record: dict, rank: int, checkpoint_path: str | None = None) -> None:
    """Loads the dump a checkpoint's ``record`` points to into ``buffer`` (an empty one of the same
    construction); a dump that is missing or belongs to another step is a one-line error.

    The record holds an absolute path; a ``replay/`` folder beside ``checkpoint_path`` is looked at
    first, so a run directory that was moved or copied with its checkpoints (a study's interrupted
    run kept aside, a run carried to another machine) resumes from its own dump."""
    wanted = {key: record[key] for key in ("global_step", "frames", "rows")}
    places = [rank_directory(record["dir"], rank)]
    if checkpoint_path is not None:
        places.insert(0, rank_directory(os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), "replay"), rank))
    for place in dict.fromkeys(places):
        if _read_stamp(place) == wanted:
            buffer.loads(place)
            return
    target = places[-1]
    found = _read_stamp(target)
    hint = "resume from the newest checkpoint (last.ckpt), or pass --data.checkpoint_buffer none to refill the buffer"
    if found is None:
        raise ConfigError("ckpt_path", f"the checkpoint's replay buffer is not at {target}; {hint}")
    raise ConfigError(
        "ckpt_path",
        f"the replay buffer at {target} was saved at step {found['global_step']}, the checkpoint at step "
        f"{wanted['global_step']}; {hint}",
    )


def buffer_state(buffer: ReplayBuffer) -> dict:
    """What a checkpoint holds of ``buffer`` when it is kept inside: ``buffer.state_dict()``, with a
    prioritized sampler's segment trees replaced by a tensor of priorities.

    TorchRL's trees pickle through numpy objects that ``torch.load(weights_only=True)`` (how
    Lightning resumes) refuses; a tensor loads anywhere. The trees hold ``(p + eps)^alpha``; the
    tensor holds ``p``, the raw priorities (as TorchRL itself undoes it when alpha changes).
    """
    state = dict(buffer.state_dict())
    sampler = buffer.sampler
    if not isinstance(sampler, PrioritizedSampler):
        return state
    tree = state.pop("_sampler")["_sum_tree"]
    count = len(buffer)
    stored = torch.as_tensor(np.asarray(tree[torch.arange(count)]), dtype=torch.float64).reshape(count)
    if sampler.alpha > 0:
        stored = (stored.pow(1.0 / sampler.alpha) - sampler._eps).clamp_min(0)
    state["priorities"] = stored.float()
    return state


def load_buffer_state(buffer: ReplayBuffer, state: dict) -> None:
    """Restores what ``buffer_state`` saved; priorities go back through ``update_priority``."""
    if "priorities" not in state:
        buffer.load_state_dict(state)
        return
    state = dict(state)
    priorities = state.pop("priorities")
    buffer.load_state_dict({**state, "_sampler": buffer.sampler.state_dict()})
    if len(priorities):
        buffer.update_priority(torch.arange(len(priorities)), priorities)


def _read_stamp(directory: str) -> dict | None:
    try:
        with open(os.path.join(directory, STAMP_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


__all__ = ["buffer_state", "dump_beside", "load_beside", "load_buffer_state", "rank_directory"]
