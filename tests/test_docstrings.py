"""The worked examples in the docstrings are true (they are how a newcomer learns the math)."""

import doctest
import importlib
import sys
from pathlib import Path

import pytest

MODULES = [
    "lightning_dqn.td",
    "lightning_dqn.distributional",
    "lightning_dqn.noisy",
    "lightning_dqn.scores",
    "lightning_dqn.replay.prioritized",
    "lightning_dqn.random_streams",
    "lightning_dqn.callbacks.epsilon",
    "lightning_dqn.callbacks.progress",
    "lightning_dqn.callbacks.reward_bound",
    "lightning_dqn.cli",
    "lightning_dqn.ablation.sweep",
    "lightning_dqn.ablation.across_tasks",
]
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ["export_run_curve"]  # benchmark scripts with worked examples (they import their neighbours)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_examples_hold(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module(name)
    try:
        result = doctest.testmod(module)
    finally:
        sys.modules.pop(name, None)
    assert result.attempted > 0 and result.failed == 0
