"""Training callbacks, one concept each; they read the datamodule's counters, never the envs."""

from lightning_dqn.callbacks.epsilon import EpsilonSchedule, linear_epsilon
from lightning_dqn.callbacks.experience_logger import ExperienceLogger
from lightning_dqn.callbacks.final_checkpoint import FinalCheckpoint
from lightning_dqn.callbacks.interruption import GracefulInterruption, Interruption
from lightning_dqn.callbacks.progress import ProgressPrinter
from lightning_dqn.callbacks.reward_bound import RewardBound
from lightning_dqn.callbacks.target_sync import TargetNetworkSync
from lightning_dqn.callbacks.video_logger import EvaluationVideoLogger

__all__ = [
    "EpsilonSchedule",
    "EvaluationVideoLogger",
    "ExperienceLogger",
    "FinalCheckpoint",
    "GracefulInterruption",
    "Interruption",
    "ProgressPrinter",
    "RewardBound",
    "TargetNetworkSync",
    "linear_epsilon",
]
