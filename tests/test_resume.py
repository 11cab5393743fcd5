"""fit --ckpt_path last.ckpt continues where the run stopped: counters, schedules, replay memory."""

import shutil

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import EpsilonSchedule, TargetNetworkSync
from lightning_dqn.errors import ConfigError


def callbacks(tmp_path):
    return [
        EpsilonSchedule(1.0, 0.1, decay_frames=2000),
        TargetNetworkSync(every_frames=50),
        ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=100, save_last=True),
    ]


@pytest.mark.parametrize("where", ["beside", "inside"])
def test_resume_restores_counters_schedule_and_buffer(tmp_path, where):
    data = nonslippery_data(replay_start_size=100, checkpoint_buffer=where)
    trainer = make_trainer(tmp_path, callbacks(tmp_path), max_steps=300)
    trainer.fit(model_for(data), datamodule=data)
    frames, episodes, window = data.frames, data.episodes, list(data.agent.recent_returns)
    stored = data.buffer[:]
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["DQNDataModule"]
    if where == "beside":  # the checkpoint points to one dump of the buffer next to it
        assert "buffer" not in saved and saved["buffer_beside"]["global_step"] == 300
        assert (tmp_path / "ckpt" / "replay" / "rank0" / "saved_at.json").is_file()
        assert sorted(p.name for p in (tmp_path / "ckpt" / "replay").iterdir()) == ["rank0"], "no leftovers"
    else:
        assert "buffer" in saved and not (tmp_path / "ckpt" / "replay").exists()

    resumed_data = nonslippery_data(replay_start_size=100, checkpoint_buffer=where)
    resumed = make_trainer(tmp_path, callbacks(tmp_path), max_steps=301)
    resumed.fit(model_for(resumed_data), datamodule=resumed_data, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))

    assert resumed.global_step == 301
    # one more update played 1 frame (plus the prefetched batch's): no warm-up of random play again
    assert frames < resumed_data.frames <= frames + 2
    new_episodes = resumed_data.episodes - episodes
    assert 0 <= new_episodes <= 2
    kept = window[max(0, len(window) + new_episodes - 100):]  # the window slides by the new episodes
    assert list(resumed_data.agent.recent_returns)[: len(kept)] == kept and len(kept) > 0
    assert resumed_data.epsilon == EpsilonSchedule(1.0, 0.1, 2000).value_at(resumed_data.frames)
    assert len(resumed_data.buffer) == min(500, len(stored) + resumed_data.frames - frames)
    assert torch.equal(resumed_data.buffer[: len(stored)]["observation"][:10], stored["observation"][:10])


def test_without_checkpoint_buffer_resume_refills_with_random_play(tmp_path):
    data = nonslippery_data(replay_start_size=100, checkpoint_buffer=False)
    trainer = make_trainer(tmp_path, callbacks(tmp_path), max_steps=300)
    trainer.fit(model_for(data), datamodule=data)
    frames = data.frames

    resumed_data = nonslippery_data(replay_start_size=100, checkpoint_buffer=False)
    resumed = make_trainer(tmp_path, callbacks(tmp_path), max_steps=301)
    resumed.fit(model_for(resumed_data), datamodule=resumed_data, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert resumed_data.frames >= frames + 100  # the counters continue, the buffer was refilled


def test_best_checkpoint_is_model_only_and_last_carries_the_buffer(tmp_path):
    from lightning_dqn import DQN, RewardBound

    data = nonslippery_data(replay_start_size=100)
    bound = RewardBound(bound=2.0)  # never reached: only best.ckpt updates
    trainer = make_trainer(tmp_path, [*callbacks(tmp_path), bound], max_steps=300)
    trainer.fit(model_for(data), datamodule=data)
    best = torch.load(bound.best_model_path, weights_only=True)
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert "buffer_beside" not in best["DQNDataModule"] and "optimizer_states" not in best
    assert "buffer_beside" in last["DQNDataModule"] and "optimizer_states" in last
    assert data.buffer_in_checkpoints  # switched back on after each best save
    assert isinstance(DQN.load_from_checkpoint(bound.best_model_path), DQN)


def test_resume_with_the_frame_layout_keeps_rows_and_never_joins_old_and_new_episodes(tmp_path):
    data = nonslippery_data(replay_start_size=100, n_step=3)
    assert data.replay_layout == "frames"
    trainer = make_trainer(tmp_path, callbacks(tmp_path), max_steps=200)
    trainer.fit(model_for(data), datamodule=data)
    stored = data.buffer[:]

    resumed_data = nonslippery_data(replay_start_size=100, n_step=3)
    resumed = make_trainer(tmp_path, callbacks(tmp_path), max_steps=260)
    resumed.fit(model_for(resumed_data), datamodule=resumed_data, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    rows = resumed_data.buffer[:]
    old = len(stored)
    assert torch.equal(rows["row_id"][:old], stored["row_id"][:old]) and torch.equal(rows["frame"][:old], stored["frame"][:old])
    assert torch.equal(rows["row_id"][old:], torch.arange(old, len(rows)))  # row ids continue
    assert rows["episode_step"][old] == 0  # the resumed envs start new episodes
    batch = resumed_data.buffer.sample(2000)  # the cut episode's last row never bootstraps into the new one
    assert batch["next", "steps"].min() >= 1 and batch["observation"].shape == (2000, 16)


def test_a_checkpoint_older_than_the_buffer_beside_it_is_refused(tmp_path):
    data = nonslippery_data(replay_start_size=100)
    trainer = make_trainer(tmp_path, callbacks(tmp_path), max_steps=100)
    trainer.fit(model_for(data), datamodule=data)
    shutil.copy(tmp_path / "ckpt" / "last.ckpt", tmp_path / "step100.ckpt")
    again = make_trainer(tmp_path, callbacks(tmp_path), max_steps=200)
    again.fit(model_for(data), datamodule=data, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))  # dump now at 200

    stale = nonslippery_data(replay_start_size=100)
    with pytest.raises(ConfigError) as err:
        make_trainer(tmp_path, callbacks(tmp_path), max_steps=201).fit(
            model_for(stale), datamodule=stale, ckpt_path=str(tmp_path / "step100.ckpt")
        )
    assert err.value.field == "ckpt_path" and "saved at step 200, the checkpoint at step 100" in str(err.value)

    refill = nonslippery_data(replay_start_size=100, checkpoint_buffer="none")  # what the message offers
    make_trainer(tmp_path / "refill", [EpsilonSchedule()], max_steps=101).fit(
        model_for(refill), datamodule=refill, ckpt_path=str(tmp_path / "step100.ckpt")
    )
    assert len(refill.buffer) >= 100, "refilled with random play"


def test_a_run_directory_moved_with_its_checkpoints_resumes_from_its_own_dump(tmp_path):
    data = nonslippery_data(replay_start_size=100)
    make_trainer(tmp_path / "run", callbacks(tmp_path / "run"), max_steps=200).fit(model_for(data), datamodule=data)
    stored = data.buffer[:]
    (tmp_path / "run").rename(tmp_path / "run.attempt1")  # the checkpoint still names run/ckpt/replay

    resumed_data = nonslippery_data(replay_start_size=100)
    moved = tmp_path / "run.attempt1"
    resumed = make_trainer(tmp_path / "next", callbacks(tmp_path / "next"), max_steps=201)
    resumed.fit(model_for(resumed_data), datamodule=resumed_data, ckpt_path=str(moved / "ckpt" / "last.ckpt"))
    assert resumed.global_step == 201
    assert torch.equal(resumed_data.buffer[: len(stored)]["observation"][:10], stored["observation"][:10])


def test_checkpoint_buffer_names_its_choices():
    with pytest.raises(ConfigError) as err:
        nonslippery_data(checkpoint_buffer="everywhere")
    assert err.value.field == "data.checkpoint_buffer" and "beside, inside, none" in str(err.value)
    assert nonslippery_data(checkpoint_buffer=True).checkpoint_buffer == "beside"
    assert nonslippery_data(checkpoint_buffer=False).checkpoint_buffer == "none"


def test_each_fit_closes_its_envs_and_another_fit_reopens_them(tmp_path):
    data = nonslippery_data(replay_start_size=100)
    model = model_for(data)
    make_trainer(tmp_path, [EpsilonSchedule()], max_steps=50).fit(model, datamodule=data)
    first_env, frames, stored = data.agent.env, data.frames, len(data.buffer)
    assert first_env.closed, "a finished fit leaves no env running"

    make_trainer(tmp_path / "more", [EpsilonSchedule()], max_steps=50).fit(model, datamodule=data)  # 50 more steps
    assert data.agent.env is not first_env and data.agent.env.closed
    assert data.frames >= frames + 50 and len(data.buffer) >= stored + 50, "same agent and buffer, playing on"
