"""Training draws its replay samples from its own generator: evaluation, loaders or anything else
that uses torch's or numpy's global generator cannot change what a run learns, and a resumed run
samples what the uninterrupted run would have."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from pytorch_lightning.callbacks import ModelCheckpoint

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import EpsilonSchedule, RewardBound, TargetNetworkSync
from lightning_dqn.random_streams import stream_seed

LAYOUTS = {
    "transitions": {},
    "prioritized": {"prioritized": True, "priority_beta_frames": 10_000},
    "frames_3_step": {"n_step": 3},
    "frames_prioritized": {"n_step": 3, "prioritized": True, "priority_beta_frames": 10_000},
}
# Rainbow: the frames layout with prioritized 3-step replay, and every switch of the module on
RAINBOW = {"double_q": True, "dueling": True, "noisy": True, "distributional": True, "atoms": 11, "v_min": -1.0, "v_max": 1.0}


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def training_losses(tmp_path, busy: bool, steps: int, model_overrides: dict | None = None, **data_overrides) -> list[float]:
    """The losses of a short run; ``busy`` adds everything that must not matter: an evaluation every
    60 steps, logging every step instead of every 10, a checkpoint every 50 steps and ``best.ckpt``."""
    pl.seed_everything(0, verbose=False)
    data = nonslippery_data(replay_start_size=100, eval_episodes=3, **data_overrides)
    recorder = LossRecorder()
    callbacks = [EpsilonSchedule(1.0, 0.1, 1000), TargetNetworkSync(every_frames=50), recorder]
    extra = {}
    if busy:
        callbacks += [ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=50, save_last=True), RewardBound(2.0)]
        extra = {"val_check_interval": 60, "check_val_every_n_epoch": None, "log_every_n_steps": 1}
    trainer = make_trainer(tmp_path, callbacks, max_steps=steps, limit_val_batches=None, **extra)
    trainer.fit(model_for(data, **(model_overrides or {})), datamodule=data)
    if busy:
        assert trainer.fit_loop.epoch_loop.val_loop.batch_progress.total.completed > 0, "evaluation ran"
        assert (tmp_path / "ckpt" / "last.ckpt").is_file(), "checkpoints were written"
    return recorder.losses


@pytest.mark.parametrize("layout", LAYOUTS)
def test_evaluation_logging_and_checkpoints_leave_the_training_losses_unchanged(tmp_path, layout):
    steps = 400
    quiet = training_losses(tmp_path / "quiet", False, steps, **LAYOUTS[layout])
    busy = training_losses(tmp_path / "busy", True, steps, **LAYOUTS[layout])
    assert len(quiet) == len(busy) == steps
    assert busy == quiet, "every loss equal, exactly, with and without evaluation, logging and checkpoints"


def test_rainbow_noise_and_replay_ignore_evaluation_logging_and_checkpoints(tmp_path):
    """The noisy layers' noise has its own stream too: with all six switches on, every loss is equal."""
    layout = LAYOUTS["frames_prioritized"]
    quiet = training_losses(tmp_path / "quiet", False, 300, RAINBOW, **layout)
    busy = training_losses(tmp_path / "busy", True, 300, RAINBOW, **layout)
    assert len(quiet) == len(busy) == 300
    assert busy == quiet


@pytest.mark.parametrize("layout", LAYOUTS)
def test_replay_samples_ignore_the_global_generators_and_resume_exactly(layout):
    """Draws from torch's and numpy's global generators between samples change nothing; a datamodule
    restored from another's state_dict draws the same next samples."""
    data = nonslippery_data(replay_start_size=100, checkpoint_buffer="inside", **LAYOUTS[layout])
    data.setup("fit")
    data.agent.play(None, 300, epsilon=1.0)
    state = data.state_dict()

    def next_indices(datamodule, disturb: bool) -> list[torch.Tensor]:
        drawn = []
        for _ in range(5):
            if disturb:
                torch.rand(7), np.random.rand(3), torch.randint(10, (5,))
            _, info = datamodule.buffer.sample(return_info=True)
            drawn.append(torch.as_tensor(info["index"]))
        return drawn

    original = next_indices(data, disturb=True)
    restored = nonslippery_data(replay_start_size=100, checkpoint_buffer="inside", **LAYOUTS[layout])
    restored.setup("fit")
    restored.load_state_dict(state)
    torch.manual_seed(123), np.random.seed(123)
    again = next_indices(restored, disturb=False)
    assert all(torch.equal(a, b) for a, b in zip(original, again))


def test_stream_seeds_differ_by_rank_and_seed():
    seeds = {stream_seed(s, r, "replay") for s in range(3) for r in range(4)}
    assert len(seeds) == 12
    with pytest.raises(ValueError, match="unknown random stream"):
        stream_seed(0, 0, "acting")
