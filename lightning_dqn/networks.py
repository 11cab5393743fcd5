"""Q-networks: map a batch of observations to one Q-value per action.

Every network is a body (features) and a ``QHead``. Three switches change the head and combine
freely: ``dueling`` (value and advantage streams), ``noisy`` (noisy linear layers in the head and
the MLP's later layers, ``lightning_dqn.noisy``) and a categorical ``support`` (C51: a distribution
over returns per action, ``lightning_dqn.distributional``). ``forward`` always returns ``[B, A]``
Q-values (a distribution's mean), so acting and evaluation never need to know; the distributional
loss reads ``logits``, ``[B, A, atoms]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_dqn.distributional import expected_value
from lightning_dqn.noisy import noisy_linear

NETWORKS = ("mlp", "nature_cnn", "minatar_cnn")


def linear(n_in: int, n_out: int, noisy: bool = False, sigma0: float = 0.5) -> nn.Module:
    """A plain or a noisy linear layer."""
    return noisy_linear(n_in, n_out, sigma0) if noisy else nn.Linear(n_in, n_out)


class QHead(nn.Module):
    """Features -> one value (or one distribution over ``support``) per action, plain or dueling.

    Dueling (Wang et al. 2016) splits the head into a state value V(s) and advantages A(s, a) and
    recombines them as ``Q = V + A - mean_a A``; the mean keeps V and A identifiable. With a support
    (C51) the same recombination is made per atom on the logits, before the softmax (Rainbow's way).
    """

    def __init__(
        self,
        n_features: int,
        n_actions: int,
        hidden: int | None = None,
        dueling: bool = False,
        noisy: bool = False,
        sigma0: float = 0.5,
        support: Tensor | None = None,
    ):
        super().__init__()
        self.dueling = dueling
        self.n_actions = n_actions
        self.atoms = 1 if support is None else len(support)

        def stream(n_out: int) -> nn.Module:
            if hidden is None:
                return linear(n_features, n_out, noisy, sigma0)
            return nn.Sequential(linear(n_features, hidden, noisy, sigma0), nn.ReLU(), linear(hidden, n_out, noisy, sigma0))

        self.advantage = stream(n_actions * self.atoms)
        self.value = stream(self.atoms) if dueling else None
        self.register_buffer("support", support.clone() if support is not None else None)

    def logits(self, features: Tensor) -> Tensor:
        """``[B, A, atoms]``: per action, the logits of its return distribution over ``support``."""
        advantage = self.advantage(features).view(-1, self.n_actions, self.atoms)
        if self.value is None:
            return advantage
        return self.value(features).view(-1, 1, self.atoms) + advantage - advantage.mean(dim=1, keepdim=True)

    def forward(self, features: Tensor) -> Tensor:
        if self.support is not None:
            return expected_value(self.logits(features), self.support)
        advantage = self.advantage(features)
        if self.value is None:
            return advantage
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """A body that turns observations into features, and a ``QHead``."""

    head: QHead

    def features(self, obs: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, obs: Tensor) -> Tensor:
        return self.head(self.features(obs))

    def logits(self, obs: Tensor) -> Tensor:
        """The distributional head's ``[B, A, atoms]`` logits (``atoms`` is 1 without a support)."""
        return self.head.logits(self.features(obs))


class MLPQNetwork(QNetwork):
    """Fully connected Q-network with ReLU between layers.

    The seed's FrozenLake net is ``MLPQNetwork((16,), 4, [256, 128])``: 16 -> 256 -> 128 -> 4.
    Observations of any shape are flattened, so a Box of shape (4,) and a one-hot of 16 both fit.
    With ``dueling`` the last layer becomes a dueling head; with ``noisy`` every layer after the
    first is a noisy layer.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        hidden_sizes: Sequence[int] = (256, 128),
        dueling: bool = False,
        noisy: bool = False,
        sigma0: float = 0.5,
        support: Tensor | None = None,
    ):
        super().__init__()
        sizes = [math.prod(obs_shape), *hidden_sizes]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [linear(n_in, n_out, noisy and i > 0, sigma0), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = QHead(sizes[-1], n_actions, dueling=dueling, noisy=noisy, sigma0=sigma0, support=support)

    def features(self, obs: Tensor) -> Tensor:
        return self.body(obs.float())


class ConvQNetwork(QNetwork):
    """A convolutional trunk (ending in ``Flatten``), then the Q head: the wiring both image networks
    share, so ``dueling``, ``noisy`` and the distributional ``support`` work the same on each.

    ``input_scale`` divides the observation bytes first (255 for Atari frames; 1, no division, for
    MinAtar's 0/1 channels). The head's first layer has ``hidden`` units, one per stream with
    ``dueling``.
    """

    def __init__(
        self,
        conv: nn.Sequential,
        obs_shape: Sequence[int],
        n_actions: int,
        hidden: int,
        input_scale: float,
        dueling: bool,
        noisy: bool,
        sigma0: float,
        support: Tensor | None,
    ):
        super().__init__()
        self.conv = conv
        self.input_scale = input_scale
        with torch.no_grad():
            n_features = self.conv(torch.zeros(1, *obs_shape)).shape[1]
        self.head = QHead(n_features, n_actions, hidden, dueling=dueling, noisy=noisy, sigma0=sigma0, support=support)

    def features(self, obs: Tensor) -> Tensor:
        x = obs.float()
        return self.conv(x / self.input_scale if self.input_scale != 1 else x)


class NatureCNN(ConvQNetwork):
    """The Nature DQN network (Mnih et al. 2015; the seed's ``DQN`` class) for stacked frames.

    Three strided convolutions (32x8x8/4, 64x4x4/2, 64x3x3/1) and two fully connected layers (512,
    n_actions). It takes uint8 frames of shape (stack, 84, 84) and scales them to [0, 1] itself, so
    the replay buffer stores bytes. With ``dueling`` both streams get their own 512-unit layer; with
    ``noisy`` the fully connected layers are noisy (Rainbow's).
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        dueling: bool = False,
        noisy: bool = False,
        sigma0: float = 0.5,
        support: Tensor | None = None,
    ):
        conv = nn.Sequential(
            nn.Conv2d(obs_shape[0], 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        super().__init__(conv, obs_shape, n_actions, 512, 255.0, dueling, noisy, sigma0, support)


class MinAtarCNN(ConvQNetwork):
    """The MinAtar paper's network (Young & Tian 2019) for its 10x10 grids.

    One 3x3 convolution with 16 channels (stride 1, no padding) and ReLU, then a 128-unit layer and
    the Q-values: ``(C, 10, 10) -> 16x8x8 = 1,024 features -> 128 -> n_actions``. It reads the 0/1
    bytes of ``ChannelFirstBytes`` as they are (no /255). The 128-unit layer belongs to the head, so
    ``dueling`` gives each stream its own and ``noisy`` makes both layers noisy, as for ``NatureCNN``.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        dueling: bool = False,
        noisy: bool = False,
        sigma0: float = 0.5,
        support: Tensor | None = None,
    ):
        conv = nn.Sequential(nn.Conv2d(obs_shape[0], 16, kernel_size=3, stride=1), nn.ReLU(), nn.Flatten())
        super().__init__(conv, obs_shape, n_actions, 128, 1.0, dueling, noisy, sigma0, support)


def make_q_network(
    network: str,
    obs_shape: Sequence[int],
    n_actions: int,
    hidden_sizes: Sequence[int],
    dueling: bool,
    noisy: bool = False,
    sigma0: float = 0.5,
    support: Tensor | None = None,
) -> QNetwork:
    """The network named by ``model.network`` (``hidden_sizes`` is the MLP's only)."""
    if network == "nature_cnn":
        return NatureCNN(obs_shape, n_actions, dueling, noisy, sigma0, support)
    if network == "minatar_cnn":
        return MinAtarCNN(obs_shape, n_actions, dueling, noisy, sigma0, support)
    return MLPQNetwork(obs_shape, n_actions, hidden_sizes, dueling, noisy, sigma0, support)


__all__ = ["NETWORKS", "ConvQNetwork", "MLPQNetwork", "MinAtarCNN", "NatureCNN", "QHead", "QNetwork", "linear", "make_q_network"]
