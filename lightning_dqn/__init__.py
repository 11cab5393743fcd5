"""lightning_dqn: Deep Q-learning as a PyTorch Lightning module, datamodule and callbacks."""

from lightning_dqn.callbacks import EpsilonSchedule, ExperienceLogger, RewardBound, TargetNetworkSync
from lightning_dqn.cuda_check import use_plain_cuda_check_without_driver
from lightning_dqn.datamodule import DQNDataModule
from lightning_dqn.module import DQN

use_plain_cuda_check_without_driver()  # after Lightning's import set the NVML check

__all__ = ["DQN", "DQNDataModule", "EpsilonSchedule", "ExperienceLogger", "RewardBound", "TargetNetworkSync"]
