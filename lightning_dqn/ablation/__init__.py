"""Ablation studies: variants of one experiment over seeds, run as ordinary ``fit`` commands and
reported with robust statistics (``python -m lightning_dqn.ablation run|report``)."""

from lightning_dqn.ablation.report import report
from lightning_dqn.ablation.runner import run_study
from lightning_dqn.ablation.study import Study, load_study

__all__ = ["Study", "load_study", "report", "run_study"]
