"""The learning side of DQN: online and target Q-networks and the TD loss."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from tensordict import TensorDict
from torch import Tensor

from lightning_dqn.errors import NonFiniteLossError, require
from lightning_dqn.log_cadence import is_logging_step
from lightning_dqn.networks import NETWORKS, make_q_network
from lightning_dqn.td import (
    LOSSES,
    chosen_q,
    double_q_next_value,
    max_next_value,
    n_step_return,
    td_loss,
    td_target,
)


class DQN(pl.LightningModule):
    """Deep Q-learning: regress ``Q(s, a)`` onto ``r + gamma * max_a' Q*(s', a')``.

    ``Q*`` is a target network, a lagged copy of the online one that never takes gradients (DDP
    refuses parameters unused by the loss). ``TargetNetworkSync`` decides when it is refreshed.
    Evaluation episodes arrive as batches from the datamodule; ``validate`` logs ``eval/...`` and
    ``test`` logs ``test/...`` (mean, std, min, max of the return, mean length).

    Args:
        obs_shape: Observation shape; linked from ``data.obs_shape`` by the CLI, never typed.
        n_actions: Number of discrete actions; linked from ``data.n_actions``.
        network: ``mlp`` (vectors) or ``nature_cnn`` (stacked 84x84 uint8 frames; the seed's Atari net).
        hidden_sizes: Widths of the MLP's hidden layers (seed's FrozenLake net: 256, 128).
        dueling: Dueling head, ``Q = V + A - mean(A)`` (Wang et al. 2016; off in the seed).
        gamma: Discount factor in (0, 1].
        lr: Adam learning rate (seed: 1e-4).
        loss: ``mse`` (the seed's) or ``huber`` (smooth L1, robust to large TD errors).
        double_q: Double DQN targets: the online net picks the next action, the target net values
            it (off in the seed; curbs the overestimation that makes long CartPole runs collapse).
    """

    def __init__(
        self,
        obs_shape: Sequence[int] = (16,),
        n_actions: int = 4,
        network: str = "mlp",
        hidden_sizes: Sequence[int] = (256, 128),
        dueling: bool = False,
        gamma: float = 0.99,
        lr: float = 1e-4,
        loss: str = "mse",
        double_q: bool = False,
    ):
        super().__init__()
        require(0.0 < gamma <= 1.0, "model.gamma", f"must be in (0, 1], got {gamma}")
        require(lr > 0.0, "model.lr", f"must be > 0, got {lr}")
        require(loss in LOSSES, "model.loss", f"must be one of {', '.join(LOSSES)}, got {loss!r}")
        require(all(h >= 1 for h in hidden_sizes), "model.hidden_sizes", f"must all be >= 1, got {list(hidden_sizes)}")
        require(network in NETWORKS, "model.network", f"must be one of {', '.join(NETWORKS)}, got {network!r}")
        if network == "nature_cnn":
            require(
                len(obs_shape) == 3 and min(obs_shape[1:]) >= 36,
                "model.network",
                f"nature_cnn needs stacked frames (C, H, W) of at least 36x36, got observations of shape "
                f"{list(obs_shape)} (use mlp)",
            )
        self.save_hyperparameters()
        self.q_net = make_q_network(network, obs_shape, n_actions, hidden_sizes, dueling)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self._eval_returns: list[Tensor] = []
        self._eval_lengths: list[Tensor] = []

    def forward(self, obs: Tensor) -> Tensor:
        return self.q_net(obs)

    @torch.no_grad()
    def sync_target(self, tau: float = 1.0) -> None:
        """Hard copy (``tau=1``) or Polyak step ``target <- tau * online + (1 - tau) * target``."""
        if tau >= 1.0:
            self.target_net.load_state_dict(self.q_net.state_dict())
            return
        for target, online in zip(self.target_net.parameters(), self.q_net.parameters()):
            target.lerp_(online, tau)

    def training_step(self, batch: TensorDict, batch_idx: int) -> Tensor:
        q = self.q_net(batch["observation"])
        q_sa = chosen_q(q, batch["action"])
        with torch.no_grad():
            next_obs = batch["next", "observation"]
            target_q_next = self.target_net(next_obs)
            if self.hparams.double_q:
                next_value = double_q_next_value(self.q_net(next_obs), target_q_next)
            else:
                next_value = max_next_value(target_q_next)
            reward, discount = batch["next", "reward"], self.hparams.gamma
            if reward.dim() == 2:  # n-step: up to n rewards per sample, and how many steps they span
                reward, discount = n_step_return(reward, batch["next", "steps"], self.hparams.gamma)
            target = td_target(reward, batch["next", "terminated"], next_value, discount)
        # Prioritized replay (the batch carries importance weights): weight the loss and hand the
        # absolute TD errors back in the batch, TorchRL's convention, to become the new priorities.
        weight = batch.get("priority_weight", None)
        loss = td_loss(q_sa, target, self.hparams.loss, weight)
        if weight is not None:
            batch["td_error"] = (target - q_sa).detach().abs()
        if not torch.isfinite(loss):  # acting already syncs with the device every batch: no extra stall
            raise NonFiniteLossError(
                f"loss is {loss.item()} at optimizer step {self.global_step}: training diverged and stops "
                "(the last checkpoint written is the last good one; try a lower model.lr, "
                "trainer.gradient_clip_val or model.loss: huber)"
            )
        if is_logging_step(self.trainer):
            self.log_dict({"loss": loss.detach(), "q_mean": q_sa.detach().mean()}, batch_size=len(q_sa))
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Refuses to write weights that are no longer finite, so no checkpoint ever holds them."""
        if not all(torch.isfinite(p).all() for p in self.q_net.parameters()):
            raise NonFiniteLossError(f"the online network's weights are not finite at step {self.global_step}")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The fused kernel updates all parameters in one call: ~30% faster steps for small nets.
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(self.q_net.parameters(), lr=self.hparams.lr, fused=fused)

    # ----------------------------------------------------------------- evaluation episodes
    def _collect_episode(self, batch: dict[str, Tensor]) -> None:
        self._eval_returns.append(batch["return"].float())
        self._eval_lengths.append(batch["length"].float())

    def _log_episodes(self, prefix: str) -> None:
        returns = torch.stack(self._eval_returns)
        lengths = torch.stack(self._eval_lengths)
        self._eval_returns, self._eval_lengths = [], []
        std = returns.std() if len(returns) > 1 else torch.zeros(())
        self.log_dict(
            {
                f"{prefix}/return_mean": returns.mean(),
                f"{prefix}/return_std": std,
                f"{prefix}/return_min": returns.min(),
                f"{prefix}/return_max": returns.max(),
                f"{prefix}/length_mean": lengths.mean(),
                f"{prefix}/episodes": float(len(returns)),
            },
            batch_size=1,
            sync_dist=True,
        )

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._collect_episode(batch)

    def on_validation_epoch_end(self) -> None:
        if self._eval_returns:
            self._log_episodes("eval")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._collect_episode(batch)

    def on_test_epoch_end(self) -> None:
        if self._eval_returns:
            self._log_episodes("test")


__all__ = ["DQN"]
