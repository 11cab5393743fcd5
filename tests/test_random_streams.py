"""Training draws its replay samples from its own generator: evaluation, loaders or anything else
that uses torch's or numpy's global generator cannot change what a run learns, and a resumed run
samples what the uninterrupted run would have."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import EpsilonSchedule, TargetNetworkSync
from lightning_dqn.random_streams import stream_seed

LAYOUTS = {
    "transitions": {},
    "prioritized": {"prioritized": True, "priority_beta_frames": 10_000},
    "frames_3_step": {"n_step": 3},
    "frames_prioritized": {"n_step": 3, "prioritized": True, "priority_beta_frames": 10_000},
}


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def training_losses(tmp_path, evaluate_every: int | None, steps: int, **data_overrides) -> list[float]:
    pl.seed_everything(0, verbose=False)
    data = nonslippery_data(replay_start_size=100, eval_episodes=3, **data_overrides)
    recorder = LossRecorder()
    callbacks = [EpsilonSchedule(1.0, 0.1, 1000), TargetNetworkSync(every_frames=50), recorder]
    extra = {"val_check_interval": evaluate_every, "check_val_every_n_epoch": None} if evaluate_every else {}
    trainer = make_trainer(tmp_path, callbacks, max_steps=steps, limit_val_batches=None, **extra)
    trainer.fit(model_for(data), datamodule=data)
    if evaluate_every:
        assert trainer.fit_loop.epoch_loop.val_loop.batch_progress.total.completed > 0, "evaluation ran"
    return recorder.losses


@pytest.mark.parametrize("layout", LAYOUTS)
def test_evaluation_leaves_the_training_losses_unchanged(tmp_path, layout):
    steps = 400
    without = training_losses(tmp_path / "plain", None, steps, **LAYOUTS[layout])
    with_evaluation = training_losses(tmp_path / "eval", 60, steps, **LAYOUTS[layout])
    assert len(without) == len(with_evaluation) == steps
    assert with_evaluation == without, "every loss equal, exactly, with and without evaluation every 60 steps"


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
