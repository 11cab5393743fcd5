"""lightning_dqn: Deep Q-learning as a PyTorch Lightning module, datamodule and callbacks."""

from lightning_dqn.callbacks import EpsilonSchedule, ExperienceLogger, RewardBound, TargetNetworkSync
from lightning_dqn.datamodule import DQNDataModule
from lightning_dqn.module import DQN

__all__ = ["DQN", "DQNDataModule", "EpsilonSchedule", "ExperienceLogger", "RewardBound", "TargetNetworkSync"]
