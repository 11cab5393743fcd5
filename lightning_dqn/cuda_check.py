"""Keeps ``torch.cuda.is_available()`` cheap on machines without an NVIDIA driver.

Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` so that asking whether a GPU exists
does not initialise CUDA before a fork. torch then answers every ``is_available()`` by loading
NVML (``libnvidia-ml.so.1``); where there is no driver that load fails, every time, and costs
about 0.2 ms. torch's optimizers and TensorDict ask twice per optimizer step, so on a CPU-only
machine with torch's CUDA build a small-MLP step paid about 0.4 ms of its ~3.5 ms for nothing
(measured with py-spy on the FrozenLake config). Without a driver there is no CUDA to initialise
and nothing a fork could break, so the plain check is used there; with a driver nothing changes.
"""

from __future__ import annotations

import ctypes
import os

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def use_plain_cuda_check_without_driver() -> bool:
    """Drops Lightning's NVML-based check when NVML cannot be loaded; returns whether it did."""
    if os.environ.get(NVML_CHECK) != "1":
        return False
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        del os.environ[NVML_CHECK]
        return True
    return False


__all__ = ["use_plain_cuda_check_without_driver"]
