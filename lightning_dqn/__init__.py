"""lightning_dqn: Deep Q-learning as a PyTorch Lightning module, datamodule and callbacks."""

import gc

# Importing torch, Lightning and TorchRL makes millions of objects that live as long as the process.
# The cyclic collector's passes over them during the import free nothing and cost about 1 s of
# start-up on the 2-core CPU (8 full passes of 0.02-0.3 s, growing with the heap). So the import
# runs without it, and what exists at its end is moved out of its reach for good (``gc.freeze``:
# what a notebook made before importing this is never collected as cyclic garbage either).
_collecting = gc.isenabled()
gc.disable()
try:
    from lightning_dqn.callbacks import EpsilonSchedule, ExperienceLogger, RewardBound, TargetNetworkSync
    from lightning_dqn.cuda_check import use_plain_cuda_check_without_driver
    from lightning_dqn.datamodule import DQNDataModule
    from lightning_dqn.module import DQN
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

use_plain_cuda_check_without_driver()  # after Lightning's import set the NVML check

__all__ = ["DQN", "DQNDataModule", "EpsilonSchedule", "ExperienceLogger", "RewardBound", "TargetNetworkSync"]
