"""Noisy networks (Fortunato et al. 2018): exploration from learned noise on the weights.

A noisy layer computes ``y = (mu_W + sigma_W * eps_W) x + mu_b + sigma_b * eps_b`` with factorised
Gaussian noise ``eps_W = f(eps_out) f(eps_in)^T``, ``eps_b = f(eps_out)``, ``f(x) = sign(x) sqrt(|x|)``.
The network learns ``sigma``, i.e. how much to explore, state by state. The layers are TorchRL's
``NoisyLinear``, built with ``use_exploration_type=False`` so that noise follows train/eval mode
(with TorchRL's default a plain training step sees only ``mu`` and trains no ``sigma``, silently).
Evaluation and ``test`` run in eval mode: the mean weights, a deterministic policy.

The noise is resampled here, not with TorchRL's ``reset_noise``: that draws from torch's global
generator, which a DataLoader iterator or an evaluation also draws from, so how often a run
evaluates would change the noise it trains with. ``resample_noise`` takes the run's own generator
(the ``noise`` random stream) and draws on the CPU, so a run's noise is the same on every device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchrl.modules import NoisyLinear


def noisy_linear(n_in: int, n_out: int, sigma0: float) -> NoisyLinear:
    """A factorised-noise layer whose initial sigmas are ``sigma0 / sqrt(n_in)`` (the paper's 0.5)."""
    return NoisyLinear(n_in, n_out, std_init=sigma0, use_exploration_type=False)


def factorised_noise(size: int, generator: torch.Generator) -> Tensor:
    """``f(x) = sign(x) * sqrt(|x|)`` of ``size`` standard normal draws: the paper's factorised noise.

    >>> x = factorised_noise(1000, torch.Generator().manual_seed(0))
    >>> bool((x ** 2).mean().sub(0.798).abs() < 0.05)  # f(x)**2 = |x|, whose mean is sqrt(2/pi) = 0.798
    True
    """
    x = torch.randn(size, generator=generator)
    return x.sign() * x.abs().sqrt()


@torch.no_grad()
def resample_noise(module: nn.Module, generator: torch.Generator) -> None:
    """Draws fresh noise for every noisy layer in ``module`` from ``generator``."""
    for layer in module.modules():
        if isinstance(layer, NoisyLinear):
            noise_in = factorised_noise(layer.in_features, generator)
            noise_out = factorised_noise(layer.out_features, generator)
            layer.weight_epsilon.copy_(torch.outer(noise_out, noise_in))
            if layer.bias_mu is not None:
                layer.bias_epsilon.copy_(noise_out)


__all__ = ["factorised_noise", "noisy_linear", "resample_noise"]
