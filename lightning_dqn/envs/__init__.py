"""Environments: making them by id, checking that DQN can drive them, and their preprocessing.

- ``generic``: any registered gymnasium id with discrete actions (one-hot for discrete observations)
- ``atari``: ALE games with the Nature DQN preprocessing, on two back ends
"""
