"""Q-networks: map a batch of observations to one Q-value per action."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn


class MLPQNetwork(nn.Module):
    """Fully connected Q-network with ReLU between layers.

    The seed's FrozenLake net is ``MLPQNetwork((16,), 4, [256, 128])``: 16 -> 256 -> 128 -> 4.
    Observations of any shape are flattened, so a Box of shape (4,) and a one-hot of 16 both fit.
    """

    def __init__(self, obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int] = (256, 128)):
        super().__init__()
        sizes = [math.prod(obs_shape), *hidden_sizes]
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs.float())


__all__ = ["MLPQNetwork"]
