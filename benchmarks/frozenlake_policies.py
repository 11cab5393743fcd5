"""How far a FrozenLake checkpoint's greedy policy is from the optimal one, exactly.

A greedy success rate over 1,000 episodes has a standard error of about 0.014; this reads the net's
greedy action in each of the 16 states, computes that policy's exact success probability within
gymnasium's 100-step limit on the env's own transition table (``lightning_dqn.tabular``), and lists
the states where its action is worse than the best under the exact ``Q*`` (value iteration at the
DQN's gamma, 0.99), with how much worse (``Q*(s, a_best) - Q*(s, a_net)``) and the net's own margin
for its choice (``Q(s, a_net) - Q(s, a_best)``): small gaps are near-ties that noise in Q can flip.

    python benchmarks/frozenlake_policies.py runs/reproduce/<time>/frozenlake*/seed*/**/best.ckpt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from lightning_dqn import DQN
from lightning_dqn.tabular import exact_model, q_value_iteration, success_probability

STEPS = 100  # gymnasium's time limit for FrozenLake 4x4


def greedy_policy(checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """The net's ``Q`` for each one-hot state ``[16, 4]`` and its greedy action per state."""
    model = DQN.load_from_checkpoint(str(checkpoint), map_location="cpu").eval()
    with torch.no_grad():
        q = model.q_net(torch.eye(16)).numpy()
    return q, q.argmax(axis=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    args = parser.parse_args(argv)
    p, r, terminal = exact_model(gym.make("FrozenLake-v1", is_slippery=True))
    q_star = q_value_iteration(p, r, gamma=0.99, terminal=terminal)
    best = q_star.argmax(axis=1)
    print(f"best policy at gamma 0.99: exact success {success_probability(p, r, terminal, best, STEPS):.4f}")
    for checkpoint in args.checkpoints:
        q, policy = greedy_policy(checkpoint)
        gap = q_star.max(axis=1) - q_star[np.arange(16), policy]
        differs = [s for s in range(16) if not terminal[s] and gap[s] > 1e-6]
        margins = ", ".join(f"s{s}: Q* -{gap[s]:.3f}, net +{q[s, policy[s]] - q[s, best[s]]:.3f}" for s in differs)
        print(f"{checkpoint}: exact success {success_probability(p, r, terminal, policy, STEPS):.4f}, "
              f"differs from the best in {len(differs)} states{' (' + margins + ')' if differs else ''}")  # fmt: skip


if __name__ == "__main__":
    main()
