"""The torch/torchrl pair must match, or prioritized replay silently disappears."""

import torch
import torchrl


def test_torchrl_compiled_extension_loads():
    import torchrl._torchrl  # noqa: F401  raises "undefined symbol" when torch and torchrl mismatch

    from torchrl.data import PrioritizedSampler

    sampler = PrioritizedSampler(max_capacity=8, alpha=0.6, beta=0.4)
    assert sampler is not None


def test_pinned_versions():
    assert torch.__version__.startswith("2.14"), torch.__version__
    assert torchrl.__version__.startswith("0.14"), torchrl.__version__
