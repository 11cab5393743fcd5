"""The worked examples in the docstrings are true (they are how a newcomer learns the math)."""

import doctest
import importlib

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
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
