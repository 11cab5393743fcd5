"""The world DQN learns in: environments, agent, replay buffer, and the batches they produce."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import pytorch_lightning as pl
import torch
from tensordict import TensorDictBase
from torch.utils.data import DataLoader

from lightning_dqn.agent import Agent
from lightning_dqn.envs.atari import AtariOptions, is_atari, make_atari_env, make_atari_vector_env
from lightning_dqn.envs.generic import check_env_spaces, check_vectorization_mode, make_env, make_vector_env
from lightning_dqn.envs.video import check_video_recording, recording
from lightning_dqn.errors import require
from lightning_dqn.replay.prioritized import PrioritizedSampling
from lightning_dqn.random_streams import stream_generator
from lightning_dqn.replay.checkpoint import buffer_state, dump_beside, load_beside, load_buffer_state
from lightning_dqn.replay.memory import Priorities, build_replay_memory
from lightning_dqn.stream import EvaluationEpisodes, ExperienceStream, UpdateGroup
from lightning_dqn.tracking import checkpoint_directory, run_directory

EVAL_SEED_OFFSET = 1_000_000  # evaluation envs never share a seed with training envs
REPLAY_LAYOUTS = ("auto", "transitions", "frames")
CHECKPOINT_BUFFER = ("beside", "inside", "none")


def _keep_batch(batch: Any) -> Any:
    """Collate that passes a TensorDict (or dict of tensors) through untouched."""
    return batch


class DQNDataModule(pl.LightningDataModule):
    """Owns the environments, the acting agent and the replay buffer.

    The agent acts with the module's live online network (``trainer.lightning_module.q_net``), read
    at ``setup``; this file never imports the module. With several processes (DDP) every rank runs
    its own envs and buffer, seeded ``seed + rank * num_envs + i``. Replay sampling draws from its
    own generator (``random_streams``), saved in checkpoints, so evaluation, logging or loader
    creation never change what training samples, and a resumed run samples as the uninterrupted one.

    Args:
        env_id: Any gymnasium id with Discrete actions and a Box or Discrete observation.
        env_kwargs: Passed to ``gymnasium.make`` (e.g. ``is_slippery``, ``map_name`` for FrozenLake).
        atari: Preprocessing and back end of Atari games (``ALE/Pong-v5``, ``PongNoFrameskip-v4``...).
        num_envs: Environments stepped together in one vector env (one agent step each = one frame;
            on Atari one agent step is ``atari.frame_skip`` emulator frames).
        vectorization_mode: ``sync`` (gymnasium's ``SyncVectorEnv`` of ``num_envs`` envs) or
            ``vector_entry_point`` (the env's own batched implementation, e.g. CartPole-v1's: about
            3x faster per step, other trajectories). Atari chooses with ``atari.backend``.
        buffer_size: Replay capacity in transitions (seed: REPLAY_SIZE); with the ``frames`` layout,
            in rows (one per agent step, plus one per episode).
        n_step: Steps summed into each TD target, ``r_t + ... + gamma^(n-1) r_(t+n-1) + gamma^n
            max Q*`` (Sutton 1988; 1 = the seed's one-step target). The ``frames`` layout rebuilds
            the n steps when sampling; ``transitions`` writes each n-step transition once its n steps
            are played (``replay.n_step``): cheaper to sample, two observations per transition.
        replay_layout: ``transitions`` stores (obs, action, reward, next_obs) per transition;
            ``frames`` stores each observation once (newest frame only for Atari stacks) and rebuilds
            stacks and n-step returns when sampling; ``auto`` picks ``frames`` for Atari or n_step > 1.
        replay_memmap_dir: Keep the replay rows in memory-mapped files under this directory (a new
            subdirectory per run; for buffers larger than RAM); unset = in RAM. ``frames`` layout only.
        replay_start_size: Frames of uniformly random play stored before the first update (seed:
            REPLAY_START_SIZE).
        batch_size: Transitions per gradient step (seed: BATCH_SIZE).
        frames_per_batch: Frames played per gradient step, i.e. the replay ratio's inverse (seed: 1).
        updates_per_step: Gradient steps per Lightning step (K; each still plays ``frames_per_batch``
            frames first). K > 1 pays Lightning's per-step work (hooks, logging checks, the batch's
            trip through the loop) once per K updates, through manual optimization; epsilon, target
            syncs, noise and priorities still follow every update. Linked to ``model.updates_per_step``.
        eval_episodes: Episodes played by each evaluation (``validate``, ``test``, and during ``fit``).
        eval_epsilon: Exploration rate while evaluating (0 = greedy; DQN papers use 0.05 on Atari).
        eval_every_frames: During ``fit``, evaluate every this many frames (the CLI turns it into
            ``trainer.val_check_interval``); unset = only when the run stops.
        record_video: Record the first episode of each evaluation as an MP4 under the run's
            ``videos/`` (gymnasium's ``RecordVideo``; logged to W&B when it is the logger).
        prioritized: Prioritized replay (Schaul et al. 2016): draw transitions in proportion to
            ``|TD error|^priority_alpha`` and correct with importance weights (off in the seed). With
            the ``frames`` layout a transition's priority sits on its start row.
        priority_alpha: How strongly priorities skew sampling (0 = uniform; paper: 0.6).
        priority_beta: Importance-weight exponent at frame 0, annealed linearly to 1 (paper: 0.4).
        priority_beta_frames: Frames over which ``priority_beta`` reaches 1; unset = the whole run
            (``trainer.max_steps * frames_per_batch + replay_start_size``).
        checkpoint_buffer: How checkpoints keep the replay buffer, so ``fit --ckpt_path`` resumes with
            the same memory instead of refilling it with random play: ``beside`` (one copy in
            ``<checkpoint dir>/replay/``, replaced at each save; checkpoints stay model-sized),
            ``inside`` (in every checkpoint file: one self-contained file, which grows by the
            buffer's size) or ``none``. ``true``/``false`` mean ``beside``/``none``.
        seed: Base seed of the envs and the agent; ``None`` takes ``seed_everything``'s seed.
    """

    def __init__(
        self,
        env_id: str = "FrozenLake-v1",
        env_kwargs: dict[str, Any] | None = None,
        atari: AtariOptions | None = None,
        num_envs: int = 1,
        vectorization_mode: str = "sync",
        buffer_size: int = 500,
        replay_start_size: int = 500,
        batch_size: int = 16,
        frames_per_batch: int = 1,
        updates_per_step: int = 1,
        n_step: int = 1,
        replay_layout: str = "auto",
        replay_memmap_dir: str | None = None,
        eval_episodes: int = 100,
        eval_epsilon: float = 0.0,
        eval_every_frames: int | None = None,
        record_video: bool = False,
        prioritized: bool = False,
        priority_alpha: float = 0.6,
        priority_beta: float = 0.4,
        priority_beta_frames: int | None = None,
        checkpoint_buffer: bool | str = "beside",
        seed: int | None = None,
    ):
        super().__init__()
        require(num_envs >= 1, "data.num_envs", f"must be >= 1, got {num_envs}")
        require(batch_size >= 1, "data.batch_size", f"must be >= 1, got {batch_size}")
        require(
            batch_size <= buffer_size,
            "data.batch_size",
            f"must be <= data.buffer_size ({buffer_size}), got {batch_size}",
        )
        require(
            batch_size <= replay_start_size <= buffer_size,
            "data.replay_start_size",
            f"must be between data.batch_size ({batch_size}) and data.buffer_size ({buffer_size}), "
            f"got {replay_start_size}",
        )
        require(frames_per_batch >= 1, "data.frames_per_batch", f"must be >= 1, got {frames_per_batch}")
        require(updates_per_step >= 1, "data.updates_per_step", f"must be >= 1, got {updates_per_step}")
        require(eval_episodes >= 1, "data.eval_episodes", f"must be >= 1, got {eval_episodes}")
        require(0.0 <= eval_epsilon <= 1.0, "data.eval_epsilon", f"must be in [0, 1], got {eval_epsilon}")
        require(n_step >= 1, "data.n_step", f"must be >= 1, got {n_step}")
        require(
            replay_layout in REPLAY_LAYOUTS,
            "data.replay_layout",
            f"must be one of {', '.join(REPLAY_LAYOUTS)}, got {replay_layout!r}",
        )
        self.save_hyperparameters()
        self.is_atari = is_atari(env_id)
        check_vectorization_mode(env_id, vectorization_mode, atari=self.is_atari)
        self.atari = atari or AtariOptions()
        if replay_layout == "auto":
            replay_layout = "frames" if self.is_atari or n_step > 1 else "transitions"
        require(
            replay_layout == "frames" or replay_memmap_dir is None,
            "data.replay_layout",
            "replay_memmap_dir needs the frames layout (or auto), got transitions",
        )
        self.replay_layout = replay_layout
        require(priority_alpha >= 0.0, "data.priority_alpha", f"must be >= 0, got {priority_alpha}")
        require(0.0 <= priority_beta <= 1.0, "data.priority_beta", f"must be in [0, 1], got {priority_beta}")
        require(
            priority_beta_frames is None or priority_beta_frames >= 1,
            "data.priority_beta_frames",
            f"must be >= 1 or null, got {priority_beta_frames}",
        )
        if self.is_atari:
            self.atari.check()
        if record_video:
            check_video_recording(self._make_one_env, env_id)
        env = self._make_one_env()
        try:
            obs_shape, self.n_actions = check_env_spaces(env, env_id)
        finally:
            env.close()
        self.obs_shape = list(obs_shape)  # a list, so the linked model.obs_shape saves as plain YAML
        self.agent: Agent | None = None
        self._episodes: EvaluationEpisodes | None = None
        self._pending_state: dict | None = None
        self._prioritized: PrioritizedSampling | None = None
        self._envs_closed = False
        if isinstance(checkpoint_buffer, bool):
            checkpoint_buffer = "beside" if checkpoint_buffer else "none"
        require(
            checkpoint_buffer in CHECKPOINT_BUFFER,
            "data.checkpoint_buffer",
            f"must be one of {', '.join(CHECKPOINT_BUFFER)}, got {checkpoint_buffer!r}",
        )
        self.checkpoint_buffer = checkpoint_buffer
        # Callbacks that save model-only checkpoints (RewardBound's best.ckpt) switch this off meanwhile.
        self.buffer_in_checkpoints = checkpoint_buffer != "none"

    # ----------------------------------------------------------------- counters callbacks read
    @property
    def frames(self) -> int:
        """Transitions played so far on this process (warm-up included)."""
        return self.agent.frames if self.agent else 0

    @property
    def episodes(self) -> int:
        return self.agent.episodes if self.agent else 0

    @property
    def mean_return(self) -> float:
        """Mean return of the last 100 finished training episodes (NaN before the first)."""
        return self.agent.mean_return if self.agent else float("nan")

    @property
    def epsilon(self) -> float:
        return self.agent.epsilon if self.agent else 1.0

    @epsilon.setter
    def epsilon(self, value: float) -> None:
        if self.agent:
            self.agent.epsilon = value

    @property
    def priority_beta(self) -> float | None:
        """Prioritized replay's current importance-weight exponent (None without prioritized replay)."""
        return self._prioritized.beta if self._prioritized else None

    # ----------------------------------------------------------------- Lightning hooks
    def _seed(self) -> int:
        if self.hparams.seed is not None:
            return self.hparams.seed
        return int(os.environ.get("PL_GLOBAL_SEED", 0))

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer else 0

    def _acting_net(self):
        return self.trainer.lightning_module.q_net

    def _make_training_env(self):
        hp = self.hparams
        if self.is_atari:
            return make_atari_vector_env(hp.env_id, self.atari, hp.num_envs, hp.env_kwargs)
        return make_vector_env(hp.env_id, hp.env_kwargs, hp.num_envs, hp.vectorization_mode)

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        if self.agent is not None:  # another fit on this datamodule: same agent and buffer, envs reopened
            if self._envs_closed:
                self.agent.start_episodes(self._make_training_env())
                self._envs_closed = False
            return
        hp = self.hparams
        self.buffer, writer = self._make_replay()
        self.agent = Agent(
            self._make_training_env(), self.buffer, seed=self._seed() + self._rank() * hp.num_envs, writer=writer
        )
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)
            self._pending_state = None

    def _make_replay(self):
        """The replay buffer and the writer that fills it, for the chosen layout."""
        hp = self.hparams
        self.replay_generator = stream_generator(self._seed(), self._rank(), "replay")  # what sampling draws
        priorities = None
        if hp.prioritized:
            priorities = Priorities(hp.priority_alpha, hp.priority_beta, self._priority_beta_frames())
        memory = build_replay_memory(
            self.replay_layout,
            hp.buffer_size,
            hp.batch_size,
            hp.num_envs,
            hp.n_step,
            stack=self.atari.frame_stack if self.is_atari else 1,
            stacked=self.is_atari,
            frames=lambda: self.frames,
            priorities=priorities,
            memmap_root=hp.replay_memmap_dir,
            rank=self._rank(),
            generator=self.replay_generator,
        )
        self._prioritized = memory.sampling
        return memory.buffer, memory.writer

    def _priority_beta_frames(self) -> int:
        hp = self.hparams
        if hp.priority_beta_frames is not None:
            return hp.priority_beta_frames
        max_steps = self.trainer.max_steps if self.trainer else -1
        require(
            max_steps is not None and max_steps > 0,
            "data.priority_beta_frames",
            "must be set when trainer.max_steps is unbounded (beta anneals to 1 over the run)",
        )
        return max_steps * hp.frames_per_batch + hp.replay_start_size

    def _make_one_env(self, training: bool = False, **render) -> gym.Env:
        """One env of this datamodule's kind: Atari through its options (``training=False``: whole
        games, no life-loss terminals, true scores), anything else through gymnasium's registry."""
        hp = self.hparams
        if self.is_atari:
            return make_atari_env(hp.env_id, self.atari, hp.env_kwargs, training=training, **render)
        return make_env(hp.env_id, hp.env_kwargs, **render)

    def _make_eval_env(self) -> gym.Env:
        hp = self.hparams
        render = {"render_mode": "rgb_array"} if hp.record_video else {}
        env = self._make_one_env(training=False, **render)
        if hp.record_video:
            frame_skip = self.atari.frame_skip if self.is_atari else 1
            env = recording(env, os.path.join(run_directory(self.trainer), "videos"), frame_skip)
        return env

    def _video_name(self) -> str:
        stage = "test" if self.trainer.testing else "eval"
        return f"{stage}-frame{self.frames}-step{self.trainer.global_step}"

    @property
    def latest_video(self) -> str | None:
        """Path of the MP4 the last evaluation recorded (``record_video``), else ``None``."""
        return self._episodes.last_video if self._episodes is not None else None

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        stream = ExperienceStream(
            self.agent,
            self.buffer,
            self._acting_net(),
            hp.frames_per_batch,
            hp.replay_start_size,
            self._prioritized,
            hp.updates_per_step,
        )
        # num_workers=0: the agent must act with the live network in this process.
        return DataLoader(stream, batch_size=None, collate_fn=_keep_batch, num_workers=0)

    def teardown(self, stage: str) -> None:
        """Closes the envs the stage used (emulator threads, video files); another fit reopens them."""
        if self._episodes is not None:
            self._episodes.env.close()
        if stage == "fit" and self.agent is not None and not self._envs_closed:
            self.agent.env.close()
            self._envs_closed = True

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Replay batches reach a GPU from pinned memory, without blocking: the CPU goes on to the
        next step while the copy runs (Lightning's default copies from pageable memory). An
        ``UpdateGroup``'s batches are moved the same way, each as it is drawn."""
        if isinstance(batch, UpdateGroup):
            return batch.then(lambda inner: self.transfer_batch_to_device(inner, device, dataloader_idx))
        if device.type == "cuda" and isinstance(batch, TensorDictBase):
            return batch.pin_memory().to(device, non_blocking=True)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Prioritized replay tracks each training batch as the module will see it (on its device),
        so the TD errors the module writes into it become priorities."""
        if self._prioritized is not None and self.trainer is not None and self.trainer.training:
            if isinstance(batch, UpdateGroup):  # each of its batches, once it is drawn and moved
                return batch.then(self._track)
            self._prioritized.track(batch)
        return batch

    def _track(self, batch: TensorDictBase) -> TensorDictBase:
        self._prioritized.track(batch)
        return batch

    def _evaluation_loader(self) -> DataLoader:
        hp = self.hparams
        seed = self._seed() + EVAL_SEED_OFFSET + self._rank()
        self._episodes = EvaluationEpisodes(
            self._make_eval_env(),
            self._acting_net(),
            hp.eval_episodes,
            hp.eval_epsilon,
            seed,
            video_name=self._video_name if hp.record_video else None,
        )
        return DataLoader(self._episodes, batch_size=None, collate_fn=_keep_batch, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return self._evaluation_loader()

    def test_dataloader(self) -> DataLoader:
        return self._evaluation_loader()

    def state_dict(self) -> dict:
        """The agent's counters, reward window and RNG, and (``checkpoint_buffer``) the replay buffer.

        The environments' mid-episode states are not saved: a resumed run starts new episodes.
        """
        if self.agent is None:
            return {}
        state = {"agent": self.agent.state_dict(), "replay_rng": self.replay_generator.get_state()}
        if not self.buffer_in_checkpoints:
            return state
        if self.checkpoint_buffer == "beside" and self.trainer is not None:
            state["buffer_beside"] = dump_beside(
                self.buffer, self._replay_directory(), self._rank(), self.trainer.global_step, self.frames
            )
        else:
            state["buffer"] = buffer_state(self.buffer)
        return state

    def _replay_directory(self) -> str:
        """``<checkpoint dir>/replay``: next to the checkpoints that refer to it."""
        return os.path.join(checkpoint_directory(self.trainer), "replay")

    def load_state_dict(self, state_dict: dict) -> None:
        if self.agent is None:  # restored before setup: apply once the agent exists
            self._pending_state = state_dict
            return
        if "agent" in state_dict:
            self.agent.load_state_dict(state_dict["agent"])
        if self.checkpoint_buffer != "none":  # none: refill the buffer with random play instead
            if "buffer_beside" in state_dict:
                resumed_from = getattr(self.trainer, "ckpt_path", None)  # its replay dump may sit beside it
                load_beside(self.buffer, state_dict["buffer_beside"], self._rank(), resumed_from)
            elif "buffer" in state_dict:
                load_buffer_state(self.buffer, state_dict["buffer"])
        if "replay_rng" in state_dict:  # after the buffer: TorchRL's load swaps in a generator of its own
            self.replay_generator.set_state(state_dict["replay_rng"])
            self.buffer.set_rng(self.replay_generator)


__all__ = ["DQNDataModule"]
