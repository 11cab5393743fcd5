"""Rainbow's last two parts: the C51 projection checked by hand, and noisy layers that really train
their noise, resample it after every optimizer step and act deterministically in evaluation."""

import pytest
import pytorch_lightning as pl
import torch
from torchrl.modules import NoisyLinear

from conftest import make_trainer, model_for, nonslippery_data
from lightning_dqn import EpsilonSchedule, TargetNetworkSync
from lightning_dqn.distributional import (
    categorical_cross_entropy,
    categorical_support,
    expected_value,
    project_distribution,
    target_support,
)
from lightning_dqn.networks import MLPQNetwork, NatureCNN
from lightning_dqn.noisy import resample_noise


# ------------------------------------------------------------------ C51 projection
def test_projection_matches_dopamines_worked_example():
    atoms = torch.tensor([[0.0, 2, 4, 6, 8], [1, 3, 4, 5, 6]])
    probabilities = torch.tensor([[0.1, 0.6, 0.1, 0.1, 0.1], [0.1, 0.2, 0.5, 0.1, 0.1]])
    projected = project_distribution(atoms, probabilities, torch.tensor([4.0, 5, 6, 7, 8]))
    expected = torch.tensor([[0.8, 0.0, 0.1, 0.0, 0.1], [0.8, 0.1, 0.1, 0.0, 0.0]])
    torch.testing.assert_close(projected, expected)


def test_an_atom_landing_exactly_on_a_support_point_keeps_all_its_mass():
    """Where floor/ceil projections lose mass (``l == u``): reward 1, gamma 1, support [-2 .. 2]
    moves every atom onto the next point; the top one is clipped onto 2."""
    support = torch.tensor([-2.0, -1, 0, 1, 2])
    probabilities = torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15]])
    atoms = target_support(torch.tensor([1.0]), torch.tensor([False]), 1.0, support)
    assert atoms.tolist() == [[-1.0, 0.0, 1.0, 2.0, 3.0]]
    projected = project_distribution(atoms, probabilities, support)
    torch.testing.assert_close(projected, torch.tensor([[0.0, 0.1, 0.2, 0.3, 0.4]]))


def test_terminal_and_n_step_samples_land_where_computed_by_hand():
    support = categorical_support(-2.0, 2.0, 5)
    probabilities = torch.full((3, 5), 0.2)
    reward = torch.tensor([0.5, 1.0, -0.25])
    terminated = torch.tensor([False, True, False])
    discount = torch.tensor([0.5, 0.5, 0.25])  # n-step: per-sample gamma**m
    atoms = target_support(reward, terminated, discount, support)
    torch.testing.assert_close(atoms[0], torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5]))
    torch.testing.assert_close(atoms[1], torch.full((5,), 1.0))  # terminated: every atom on r
    projected = project_distribution(atoms, probabilities, support)
    # row 0: -0.5 -> half on -1, half on 0; 0 -> 0; 0.5 -> half on 0, half on 1; 1 -> 1; 1.5 -> half 1, half 2
    torch.testing.assert_close(projected[0], torch.tensor([0.0, 0.1, 0.4, 0.4, 0.1]))
    torch.testing.assert_close(projected[1], torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]))
    # row 2: atoms -0.75, -0.5, -0.25, 0, 0.25 (0.2 each) give -1: .15 + .1 + .05, 0: .05 + .1 + .15 + .2 + .15, 1: .05
    torch.testing.assert_close(projected[2], torch.tensor([0.0, 0.3, 0.65, 0.05, 0.0]))


def test_every_projected_row_sums_to_one_for_any_reward_and_discount():
    generator = torch.Generator().manual_seed(0)
    support = categorical_support(-10.0, 10.0, 51)
    probabilities = torch.softmax(torch.randn(256, 51, generator=generator), dim=1)
    reward = torch.randn(256, generator=generator) * 8  # many atoms clipped at both ends
    reward[:32] = torch.arange(-16, 16).float() * 0.4  # atoms exactly on support points (spacing 0.4)
    terminated = torch.rand(256, generator=generator) < 0.2
    discount = torch.rand(256, generator=generator)
    projected = project_distribution(target_support(reward, terminated, discount, support), probabilities, support)
    torch.testing.assert_close(projected.sum(dim=1), torch.ones(256))
    assert (projected >= 0).all()


def test_cross_entropy_is_smallest_at_the_target():
    target = torch.tensor([[0.2, 0.5, 0.3]])
    at_target = categorical_cross_entropy(target, target.log())
    elsewhere = categorical_cross_entropy(target, torch.zeros(1, 3))
    assert at_target.item() < elsewhere.item()
    assert expected_value(target.log(), torch.tensor([-1.0, 0.0, 1.0])).item() == pytest.approx(0.1)


# ------------------------------------------------------------------ networks
@pytest.mark.parametrize("dueling", [False, True])
def test_distributional_heads_give_logits_per_atom_and_their_mean_as_q(dueling):
    support = categorical_support(-10.0, 10.0, 51)
    for net, obs in ((MLPQNetwork((4,), 2, [16], dueling, support=support), torch.randn(3, 4)),
                     (NatureCNN((4, 84, 84), 6, dueling, support=support), torch.randint(0, 255, (3, 4, 84, 84), dtype=torch.uint8))):  # fmt: skip
        logits = net.logits(obs)
        assert logits.shape == (3, net.head.n_actions, 51)
        torch.testing.assert_close(net(obs), expected_value(logits, support))


def test_noisy_layers_replace_the_head_and_the_mlps_later_layers_only():
    mlp = MLPQNetwork((16,), 4, [32, 32], dueling=True, noisy=True)
    assert not isinstance(mlp.body[1], NoisyLinear) and isinstance(mlp.body[3], NoisyLinear)
    assert isinstance(mlp.head.advantage, NoisyLinear) and isinstance(mlp.head.value, NoisyLinear)
    cnn = NatureCNN((4, 84, 84), 6, dueling=True, noisy=True)
    noisy = [m for m in cnn.modules() if isinstance(m, NoisyLinear)]
    assert len(noisy) == 4  # two fully connected layers per dueling stream
    assert not any(isinstance(m, NoisyLinear) for m in cnn.conv.modules())
    assert noisy[0].weight_sigma[0, 0].item() == pytest.approx(0.5 / noisy[0].in_features**0.5)


def test_resampled_noise_changes_the_greedy_action_and_evaluation_uses_the_mean_weights():
    net = MLPQNetwork((16,), 4, [64], noisy=True, sigma0=0.5)
    obs = torch.eye(16)
    generator = torch.Generator().manual_seed(0)
    actions = set()
    for _ in range(10):
        resample_noise(net, generator)
        actions.add(tuple(net(obs).argmax(dim=1).tolist()))
    assert len(actions) > 1, "the greedy actions change between noise samples"
    net.eval()
    mean_q = net(obs)
    resample_noise(net, generator)
    assert torch.equal(net(obs), mean_q), "in eval mode only the mean weights act"


def test_resampling_draws_only_from_the_generator_it_is_given():
    net = MLPQNetwork((16,), 4, [64], noisy=True)
    epsilons = []
    for disturb in (False, True):
        if disturb:
            torch.rand(100)
        resample_noise(net, torch.Generator().manual_seed(3))
        epsilons.append(net.head.advantage.weight_epsilon.clone())
    assert torch.equal(*epsilons)


class NoiseRecorder(pl.Callback):
    """The online and target nets' noise seen by each training step (before the module resamples)."""

    def __init__(self):
        self.online, self.target = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.online.append(pl_module.q_net.head.advantage.weight_epsilon.clone())
        self.target.append(pl_module.target_net.head.advantage.weight_epsilon.clone())


def test_a_noisy_training_step_trains_sigma_and_new_noise_follows_every_optimizer_step(tmp_path):
    data = nonslippery_data(replay_start_size=32)
    model = model_for(data, noisy=True)
    sigma_before = model.q_net.head.advantage.weight_sigma.clone()
    recorder = NoiseRecorder()
    trainer = make_trainer(tmp_path, [EpsilonSchedule(0.0, 0.0), TargetNetworkSync(every_frames=3), recorder], max_steps=6)
    trainer.fit(model, datamodule=data)
    assert not torch.equal(model.q_net.head.advantage.weight_sigma, sigma_before), "sigma received gradients"
    steps = list(zip(recorder.online, recorder.target))
    for (online, target), (next_online, next_target) in zip(steps, steps[1:]):
        assert not torch.equal(online, next_online) and not torch.equal(target, next_target)
    assert all(not torch.equal(online, target) for online, target in steps), "online and target noise independent"


def test_a_checkpoint_carries_the_noise_stream_so_a_resumed_run_draws_the_same_noise(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    from lightning_dqn import DQN

    data = nonslippery_data(replay_start_size=32)
    model = model_for(data, noisy=True)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=6, save_last=True)
    trainer = make_trainer(tmp_path, [EpsilonSchedule(0.0, 0.0), checkpoints], max_steps=6)
    trainer.fit(model, datamodule=data)
    # saved at step 6 before that step's resample: the restored stream draws what the run drew next
    loaded = DQN.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert loaded.noise_generator is not None
    resample_noise(loaded.q_net, loaded.noise_generator)
    resample_noise(loaded.target_net, loaded.noise_generator)
    for mine, theirs in ((model.q_net, loaded.q_net), (model.target_net, loaded.target_net)):
        assert torch.equal(mine.head.advantage.weight_epsilon, theirs.head.advantage.weight_epsilon)
