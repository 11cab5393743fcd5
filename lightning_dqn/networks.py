"""Q-networks: map a batch of observations to one Q-value per action."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

NETWORKS = ("mlp", "nature_cnn")


class QHead(nn.Module):
    """Features -> one value per action, plain or dueling.

    Dueling (Wang et al. 2016) splits the head into a state value V(s) and advantages A(s, a) and
    recombines them as ``Q = V + A - mean_a A``; the mean keeps V and A identifiable.
    """

    def __init__(self, n_features: int, n_actions: int, hidden: int | None = None, dueling: bool = False):
        super().__init__()
        self.dueling = dueling

        def stream(n_out: int) -> nn.Module:
            if hidden is None:
                return nn.Linear(n_features, n_out)
            return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

        self.advantage = stream(n_actions)
        self.value = stream(1) if dueling else None

    def forward(self, features: Tensor) -> Tensor:
        advantage = self.advantage(features)
        if self.value is None:
            return advantage
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class MLPQNetwork(nn.Module):
    """Fully connected Q-network with ReLU between layers.

    The seed's FrozenLake net is ``MLPQNetwork((16,), 4, [256, 128])``: 16 -> 256 -> 128 -> 4.
    Observations of any shape are flattened, so a Box of shape (4,) and a one-hot of 16 both fit.
    With ``dueling`` the last layer becomes a dueling head.
    """

    def __init__(
        self, obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int] = (256, 128), dueling: bool = False
    ):
        super().__init__()
        sizes = [math.prod(obs_shape), *hidden_sizes]
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = QHead(sizes[-1], n_actions, dueling=dueling)

    def forward(self, obs: Tensor) -> Tensor:
        return self.head(self.body(obs.float()))


class NatureCNN(nn.Module):
    """The Nature DQN network (Mnih et al. 2015; the seed's ``DQN`` class) for stacked frames.

    Three strided convolutions (32x8x8/4, 64x4x4/2, 64x3x3/1) and two fully connected layers (512,
    n_actions). It takes uint8 frames of shape (stack, 84, 84) and scales them to [0, 1] itself, so
    the replay buffer stores bytes. With ``dueling`` both streams get their own 512-unit layer.
    """

    def __init__(self, obs_shape: Sequence[int], n_actions: int, dueling: bool = False):
        super().__init__()
        channels = obs_shape[0]
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = self.conv(torch.zeros(1, *obs_shape)).shape[1]
        self.head = QHead(n_features, n_actions, hidden=512, dueling=dueling)

    def forward(self, obs: Tensor) -> Tensor:
        return self.head(self.conv(obs.float() / 255.0))


def make_q_network(
    network: str, obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int], dueling: bool
) -> nn.Module:
    """The network named by ``model.network`` (``hidden_sizes`` is the MLP's only)."""
    if network == "nature_cnn":
        return NatureCNN(obs_shape, n_actions, dueling)
    return MLPQNetwork(obs_shape, n_actions, hidden_sizes, dueling)


__all__ = ["NETWORKS", "MLPQNetwork", "NatureCNN", "QHead", "make_q_network"]
