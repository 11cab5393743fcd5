"""Environments: making them by id, checking that DQN can drive them, and their preprocessing.

- ``generic``: any registered gymnasium id with discrete actions (one-hot for discrete observations)
- ``atari``: ALE games with the Nature DQN preprocessing, on two back ends
- ``minatar``: MinAtar's five 10x10 games, registered on first use, as channel-first bytes
- ``video``: recording evaluation episodes as MP4s, checked before training starts
"""
