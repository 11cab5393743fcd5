"""Prioritized replay: sampling by priority, importance weights, annealed beta, no stale updates,
the weighted loss, resume, and a real run that learns."""

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from tensordict import TensorDict

from conftest import make_trainer, model_for, nonslippery_data
from test_frame_replay import RecordingWriter, check_batch
from lightning_dqn import EpsilonSchedule, RewardBound, TargetNetworkSync
from lightning_dqn.agent import Agent
from lightning_dqn.envs.generic import make_vector_env
from lightning_dqn.errors import ConfigError
from lightning_dqn.replay.frames import make_frame_replay
from lightning_dqn.replay.prioritized import (
    INDEX,
    STAMP,
    TD_ERROR,
    WEIGHT,
    PrioritizedSampling,
    StampedTransitionWriter,
    annealed_beta,
    make_prioritized_replay_buffer,
)
from lightning_dqn.replay.checkpoint import buffer_state, load_buffer_state


def filled(capacity=4, batch_size=4000, alpha=1.0, beta=1.0, frames=lambda: 0, beta_frames=1):
    buffer = make_prioritized_replay_buffer(capacity, batch_size, alpha, beta, eps=1e-6)
    writer = StampedTransitionWriter(buffer)
    writer.extend(TensorDict({"observation": torch.arange(capacity, dtype=torch.float32)}, [capacity]))
    return buffer, writer, PrioritizedSampling(buffer, frames, beta, beta_frames)


def test_transitions_are_drawn_in_proportion_to_priority_and_weighted_back():
    pl.seed_everything(0)
    buffer, _, sample = filled()
    buffer.update_priority(torch.arange(4), torch.tensor([1.0, 3.0, 2.0, 2.0]))
    batch = sample()
    counts = torch.bincount(batch[INDEX], minlength=4).float() / len(batch)
    assert torch.allclose(counts, torch.tensor([1 / 8, 3 / 8, 2 / 8, 2 / 8]), atol=0.03)
    assert torch.equal(batch["observation"], batch[INDEX].float()), "each sample is the transition at its index"
    # beta = 1: w_i = (N P(i))^-1 / max_j (N P(j))^-1 = p_min / p_i
    expected = {0: 1.0, 1: 1 / 3, 2: 1 / 2, 3: 1 / 2}
    for i, w in expected.items():
        assert torch.allclose(batch[WEIGHT][batch[INDEX] == i], torch.tensor(w), atol=1e-5)


def test_alpha_flattens_priorities():
    pl.seed_everything(0)
    buffer, _, sample = filled(alpha=0.0)
    buffer.update_priority(torch.arange(4), torch.tensor([1.0, 100.0, 1.0, 1.0]))
    counts = torch.bincount(sample()[INDEX], minlength=4).float() / 4000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.03), "alpha 0 is uniform sampling"


def test_td_errors_become_priorities_except_where_the_slot_was_overwritten():
    pl.seed_everything(0)
    buffer, writer, sample = filled(batch_size=64)
    batch = sample()
    sample.track(batch)
    assert sample.pending and sample.updated == 0, "nothing happens before the TD errors exist"
    writer.extend(TensorDict({"observation": torch.tensor([10.0, 11.0])}, [2]))  # overwrites slots 0 and 1
    batch[TD_ERROR] = torch.where(batch[INDEX] >= 2, -5.0, 7.0)  # the sign is dropped: |TD error|
    sample.apply_pending()
    stale = int((batch[INDEX] < 2).sum())
    assert (sample.skipped, sample.updated) == (stale, 64 - stale) and not sample.pending
    # slots 2, 3 now hold priority 5; slots 0, 1 keep the new transitions' priority: the largest seen
    # when they were written (1), not the TD errors of the transitions they replaced
    state = buffer_state(buffer)
    assert torch.allclose(state["priorities"], torch.tensor([1.0, 1.0, 5.0, 5.0]), atol=1e-5)
    assert torch.equal(buffer.storage[torch.arange(4)][STAMP], torch.tensor([4, 5, 2, 3]))


def test_beta_rises_linearly_to_one_with_frames():
    assert [annealed_beta(0.4, f, 1000) for f in (0, 250, 1000, 10_000)] == pytest.approx([0.4, 0.55, 1.0, 1.0])
    frames = {"now": 0}
    buffer, _, sample = filled(beta=0.4, frames=lambda: frames["now"], beta_frames=100)
    sample()
    assert buffer.sampler.beta == pytest.approx(0.4)
    frames["now"] = 50
    sample()
    assert buffer.sampler.beta == pytest.approx(0.7), "the sampler draws with the beta of the current frame"


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_priorities_survive_a_checkpoint_round_trip(tmp_path, alpha):
    buffer, _, _ = filled(alpha=alpha)
    buffer.update_priority(torch.arange(4), torch.tensor([0.5, 3.0, 2.0, 9.0]))
    path = tmp_path / "buffer.pt"
    torch.save(buffer_state(buffer), path)
    fresh, _, _ = filled(alpha=alpha)
    load_buffer_state(fresh, torch.load(path, weights_only=True))  # how Lightning loads a checkpoint
    assert torch.allclose(buffer_state(fresh)["priorities"], torch.tensor([0.5, 3.0, 2.0, 9.0]), rtol=1e-4)
    pl.seed_everything(0)
    drawn = fresh.sample(return_info=True)[1]["index"]
    pl.seed_everything(0)
    assert torch.equal(torch.as_tensor(drawn), torch.as_tensor(buffer.sample(return_info=True)[1]["index"]))
    assert torch.equal(fresh.storage[torch.arange(4)]["observation"], torch.arange(4.0))


def test_the_module_weights_its_loss_and_hands_back_absolute_td_errors():
    data = nonslippery_data()
    model = model_for(data, loss="mse")
    model.trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    model.log_dict = lambda *args, **kwargs: None  # a step outside a fit: nothing to log into
    obs = torch.eye(16)[:3]
    batch = TensorDict(
        {
            "observation": obs,
            "action": torch.tensor([0, 1, 2]),
            ("next", "observation"): obs,
            ("next", "reward"): torch.tensor([1.0, 0.0, 0.0]),
            ("next", "terminated"): torch.tensor([True, True, True]),
            WEIGHT: torch.tensor([1.0, 0.0, 0.5]),
        },
        [3],
    )
    with torch.no_grad():
        q_sa = model.q_net(obs)[torch.arange(3), batch["action"]]
    loss = model.training_step(batch, 0)
    target = torch.tensor([1.0, 0.0, 0.0])  # terminal: the reward alone
    assert torch.allclose(loss, (torch.tensor([1.0, 0.0, 0.5]) * (q_sa - target) ** 2).mean())
    assert torch.allclose(batch[TD_ERROR], (target - q_sa).abs())


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"priority_alpha": -0.1}, "data.priority_alpha"),
        ({"priority_beta": 1.5}, "data.priority_beta"),
        ({"priority_beta_frames": 0}, "data.priority_beta_frames"),
    ],
)
def test_bad_priority_settings_name_their_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        nonslippery_data(**kwargs)
    assert err.value.field == field


def test_prioritized_replay_learns_the_deterministic_lake_and_resumes(tmp_path):
    data = nonslippery_data(prioritized=True, replay_start_size=500)
    model = model_for(data, hidden_sizes=[256, 128])
    bound = RewardBound(0.95)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=500, save_last=True)
    callbacks = [EpsilonSchedule(1.0, 0.0, 3000), TargetNetworkSync(every_frames=50), bound, checkpoints]
    trainer = make_trainer(tmp_path, callbacks=callbacks, max_steps=20_000)
    trainer.fit(model, datamodule=data)
    assert bound.solved_at_frame is not None and bound.solved_at_frame < 10_000
    sampling = data._prioritized
    trained = trainer.global_step * 16
    assert sampling.updated + sampling.skipped + 16 * len(sampling.pending) == trained, "every trained sample is accounted for"
    assert 0 < sampling.skipped < sampling.updated / 10, "a 500-slot buffer overwrites a few sampled slots"
    assert data.priority_beta == pytest.approx(annealed_beta(0.4, data.frames, 20_000 + 500))
    assert buffer_state(data.buffer)["priorities"].std() > 0, "priorities were learned, not left at their default"

    # Resume: the buffer was dumped beside the checkpoint (TorchRL's dumps, priorities included);
    # a fresh buffer loading that dump is the reference the resumed run must match.
    checkpoint = torch.load(checkpoints.last_model_path, weights_only=True)
    reference = make_prioritized_replay_buffer(500, 16, 0.6, 0.4, 1e-6)
    reference.loads(str(tmp_path / "ckpt" / "replay" / "rank0"))
    saved = buffer_state(reference)["priorities"]
    resumed_data = nonslippery_data(prioritized=True, replay_start_size=500)
    restored = {}
    load = resumed_data.load_state_dict

    def load_and_look(state):
        load(state)
        if resumed_data.agent is not None:
            restored["priorities"] = buffer_state(resumed_data.buffer)["priorities"]

    resumed_data.load_state_dict = load_and_look
    resumed = make_trainer(tmp_path / "again", callbacks=[EpsilonSchedule(1.0, 0.0, 3000)], max_steps=checkpoint["global_step"] + 5)
    resumed.fit(model_for(resumed_data, hidden_sizes=[256, 128]), datamodule=resumed_data, ckpt_path=checkpoints.last_model_path)
    assert resumed.global_step == checkpoint["global_step"] + 5
    assert torch.allclose(restored["priorities"], saved, rtol=1e-4) and saved.std() > 0


def test_frame_replay_draws_start_rows_by_priority_and_rebuilds_exact_transitions():
    pl.seed_everything(0)
    env = make_vector_env("CartPole-v1", None, 3)
    buffer = make_frame_replay(6000, 2000, 3, 1, n_step=3, stacked=False, priority=(1.0, 1.0, 1e-6))
    writer = RecordingWriter(buffer, stacked=False)
    agent = Agent(env, buffer, seed=0, writer=writer)
    for _ in range(30):
        agent.play(None, 50)
    sample = PrioritizedSampling(buffer, lambda: 0, 1.0, 1, stamp_key="row_id", start_column=0)
    batch = sample()
    check_batch(batch, batch[STAMP], writer.steps, 3, n_step=3)  # the stamp is the start row's id
    assert torch.equal(batch[WEIGHT], torch.ones(2000)), "equal priorities: no correction"

    favourites = batch[INDEX][:5].unique()
    buffer.update_priority(favourites, torch.full((len(favourites),), 1000.0))
    batch = sample()
    share = torch.isin(batch[INDEX], favourites).float().mean()
    mass = 1000.0 * len(favourites)
    assert abs(share - mass / (mass + len(buffer) - len(favourites))) < 0.05, "drawn in proportion among valid rows"
    assert torch.allclose(batch[WEIGHT][torch.isin(batch[INDEX], favourites)], torch.tensor(1e-3), rtol=1e-3)
    check_batch(batch, batch[STAMP], writer.steps, 3, n_step=3)


def test_prioritized_n_step_replay_on_frames_learns_the_deterministic_lake(tmp_path):
    data = nonslippery_data(prioritized=True, n_step=3, replay_start_size=500)
    model = model_for(data, hidden_sizes=[256, 128])
    bound = RewardBound(0.95)
    callbacks = [EpsilonSchedule(1.0, 0.0, 3000), TargetNetworkSync(every_frames=50), bound]
    trainer = make_trainer(tmp_path, callbacks=callbacks, max_steps=20_000)
    trainer.fit(model, datamodule=data)
    assert data.replay_layout == "frames" and bound.solved_at_frame is not None
    sampling = data._prioritized
    assert sampling.updated + sampling.skipped + 16 * len(sampling.pending) == trainer.global_step * 16
    assert sampling.skipped > 0 and buffer_state(data.buffer)["priorities"].std() > 0
