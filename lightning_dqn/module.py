"""The learning side of DQN: online and target Q-networks and the TD loss."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from tensordict import TensorDict
from torch import Tensor
from torchrl.modules import reset_noise

from lightning_dqn.direct_updates import can_update_directly, clip_gradient_norm, direct_update, lightning_update
from lightning_dqn.distributional import (
    categorical_cross_entropy,
    categorical_support,
    expected_value,
    project_distribution,
    target_support,
)
from lightning_dqn.errors import NonFiniteLossError, require
from lightning_dqn.log_cadence import is_logging_step
from lightning_dqn.networks import NETWORKS, make_q_network
from lightning_dqn.noisy import resample_noise
from lightning_dqn.optimizers import check_optimizer, make_optimizer
from lightning_dqn.random_streams import stream_generator
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
        network: ``mlp`` (vectors), ``nature_cnn`` (stacked 84x84 uint8 frames; the seed's Atari net)
            or ``minatar_cnn`` (MinAtar's (C, 10, 10) grids; the MinAtar paper's net).
        hidden_sizes: Widths of the MLP's hidden layers (seed's FrozenLake net: 256, 128).
        dueling: Dueling head, ``Q = V + A - mean(A)`` (Wang et al. 2016; off in the seed).
        gamma: Discount factor in (0, 1].
        lr: The learning rate, of either optimizer (seed: 1e-4; Rainbow: 6.25e-5; MinAtar: 2.5e-4).
        optimizer: ``adam`` (the seed's) or ``rmsprop`` (centered RMSProp, the MinAtar paper's).
        adam_eps: Adam's epsilon, added to the root of the second moment (PyTorch's default 1e-8;
            Rainbow: 1.5e-4, which damps steps of rarely-updated weights).
        rmsprop_alpha: RMSProp's decay of its running mean of squared gradients (MinAtar: 0.95).
        rmsprop_eps: RMSProp's epsilon, added to the root (MinAtar: 0.01).
        rmsprop_centered: Divide by the gradient's standard deviation rather than its root mean
            square (MinAtar and DeepMind's DQN: centered).
        loss: ``mse`` (the seed's) or ``huber`` (smooth L1, robust to large TD errors). Not used with
            ``distributional``, whose loss is the cross-entropy.
        double_q: Double DQN targets: the online net picks the next action, the target net values
            it (off in the seed; curbs the overestimation that makes long CartPole runs collapse).
        noisy: Noisy networks (Fortunato et al. 2018): the head's linear layers (and the MLP's after
            the first) get learned factorised Gaussian noise, resampled after every optimizer step,
            for the online and target nets independently. Exploration then comes from the noise:
            set the epsilon schedule to 0 (Rainbow's choice). Evaluation uses the mean weights.
        noisy_sigma0: Initial noise scale: sigmas start at ``noisy_sigma0 / sqrt(fan_in)`` (paper: 0.5).
        distributional: C51 (Bellemare et al. 2017): learn a distribution over returns on ``atoms``
            points from ``v_min`` to ``v_max``; the loss is the cross-entropy to the projected target.
        atoms: Support points of the return distribution (C51 and Rainbow: 51).
        v_min: Lowest return on the support (Rainbow: -10; returns beyond it are clipped onto it).
        v_max: Highest return on the support (Rainbow: 10).
        updates_per_step: Gradient steps per Lightning step; linked from ``data.updates_per_step``,
            never typed. Above 1 the module runs its own update loop (Lightning's manual
            optimization), and after every update calls ``on_update_end(trainer, module)`` on the
            callbacks that have it (epsilon, target sync) before resampling the noise.
        gradient_clip_val: Clip the gradient's global norm to this in the module's own update loop.
            Lightning refuses ``trainer.gradient_clip_val`` under manual optimization, so with
            ``data.updates_per_step`` > 1 set this instead (with 1, ``trainer.gradient_clip_val``).
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
        optimizer: str = "adam",
        adam_eps: float = 1e-8,
        rmsprop_alpha: float = 0.95,
        rmsprop_eps: float = 0.01,
        rmsprop_centered: bool = True,
        loss: str = "mse",
        double_q: bool = False,
        noisy: bool = False,
        noisy_sigma0: float = 0.5,
        distributional: bool = False,
        atoms: int = 51,
        v_min: float = -10.0,
        v_max: float = 10.0,
        updates_per_step: int = 1,
        gradient_clip_val: float | None = None,
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
        if network == "minatar_cnn":
            require(
                len(obs_shape) == 3 and min(obs_shape[1:]) >= 3,
                "model.network",
                f"minatar_cnn needs grids (C, H, W) of at least 3x3, got observations of shape {list(obs_shape)}",
            )
        check_optimizer(optimizer, adam_eps, rmsprop_alpha, rmsprop_eps)
        require(noisy_sigma0 >= 0.0, "model.noisy_sigma0", f"must be >= 0, got {noisy_sigma0}")
        require(atoms >= 2, "model.atoms", f"must be >= 2 support points, got {atoms}")
        require(v_min < v_max, "model.v_min", f"must be below model.v_max={v_max}, got {v_min}")
        require(updates_per_step >= 1, "model.updates_per_step", f"must be >= 1, got {updates_per_step}")
        require(
            gradient_clip_val is None or gradient_clip_val > 0,
            "model.gradient_clip_val",
            f"must be > 0 or null, got {gradient_clip_val}",
        )
        require(
            gradient_clip_val is None or updates_per_step > 1,
            "model.gradient_clip_val",
            "is for data.updates_per_step > 1; with one update per step use trainer.gradient_clip_val",
        )
        self.automatic_optimization = updates_per_step == 1
        if not self.automatic_optimization:
            # Lightning 2.6 warns at every periodic checkpoint in manual mode that the weights saved
            # are those after the update; so they are with one update per step too, as intended.
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
        self.save_hyperparameters()
        support = categorical_support(v_min, v_max, atoms) if distributional else None
        self.q_net = make_q_network(network, obs_shape, n_actions, hidden_sizes, dueling, noisy, noisy_sigma0, support)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        if noisy:  # the copy has the online net's noise: give it its own, from the initialisation's generator
            self.target_net.apply(reset_noise)
        self.noise_generator: torch.Generator | None = None  # the ``noise`` random stream, made at fit start
        self._eval_returns: list[Tensor] = []
        self._eval_lengths: list[Tensor] = []
        self._direct_updates = False  # decided when a fit starts (``on_train_start``)

    def forward(self, obs: Tensor) -> Tensor:
        return self.q_net(obs)

    @torch.no_grad()
    def sync_target(self, tau: float = 1.0) -> None:
        """Hard copy (``tau=1``) or Polyak step ``target <- tau * online + (1 - tau) * target``."""
        if tau >= 1.0:
            self.target_net.load_state_dict(self.q_net.state_dict())
            return
        # one call for all tensors (torch's own EMA in ``swa_utils`` does the same): the same
        # per-tensor lerp, without a Python round trip per parameter
        torch._foreach_lerp_(list(self.target_net.parameters()), list(self.q_net.parameters()), tau)

    def _bootstrap(self, batch: TensorDict) -> tuple[Tensor, float | Tensor]:
        """The reward and the bootstrap discount: one step's ``(r, gamma)`` or n-step's ``(G, gamma^m)``."""
        reward, discount = batch["next", "reward"], self.hparams.gamma
        if reward.dim() == 2:  # n-step: up to n rewards per sample, and how many steps they span
            reward, discount = n_step_return(reward, batch["next", "steps"], self.hparams.gamma)
        return reward, discount

    def _expected_value_loss(self, batch: TensorDict, weight: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """DQN's regression of ``Q(s, a)`` onto the TD target: the loss, ``Q(s, a)`` and ``|TD error|``."""
        q = self.q_net(batch["observation"])
        q_sa = chosen_q(q, batch["action"])
        with torch.no_grad():
            next_obs = batch["next", "observation"]
            target_q_next = self.target_net(next_obs)
            if self.hparams.double_q:
                next_value = double_q_next_value(self.q_net(next_obs), target_q_next)
            else:
                next_value = max_next_value(target_q_next)
            reward, discount = self._bootstrap(batch)
            target = td_target(reward, batch["next", "terminated"], next_value, discount)
        loss = td_loss(q_sa, target, self.hparams.loss, weight)
        return loss, q_sa, (target - q_sa).detach().abs()

    def _distributional_loss(self, batch: TensorDict, weight: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """C51's cross-entropy to the projected target: the loss, ``Q(s, a)`` and the per-sample loss."""
        support = self.q_net.head.support
        rows = torch.arange(len(batch["action"]), device=support.device)
        logits = self.q_net.logits(batch["observation"])[rows, batch["action"].long().view(-1)]  # [B, atoms]
        with torch.no_grad():
            next_obs = batch["next", "observation"]
            target_logits = self.target_net.logits(next_obs)  # [B, A, atoms]
            # the next action: by the online net's mean with double Q, else by the target net's
            chooser = self.q_net(next_obs) if self.hparams.double_q else expected_value(target_logits, support)
            next_probabilities = torch.softmax(target_logits[rows, chooser.argmax(dim=1)], dim=-1)
            reward, discount = self._bootstrap(batch)
            atoms = target_support(reward, batch["next", "terminated"], discount, support)
            target = project_distribution(atoms, next_probabilities, support)
        per_sample = categorical_cross_entropy(target, logits)
        loss = per_sample.mean() if weight is None else (weight * per_sample).mean()
        return loss, expected_value(logits.detach(), support), per_sample.detach()

    def loss_terms(self, batch: TensorDict) -> tuple[Tensor, Tensor, Tensor]:
        """The batch's loss, ``Q(s, a)`` per sample and each sample's error (its new priority).

        With prioritized replay the batch carries importance weights that scale each sample's loss.
        The error is ``|TD error|`` for DQN and the cross-entropy for C51 (Rainbow's choice)."""
        weight = batch.get("priority_weight", None)
        if self.hparams.distributional:
            return self._distributional_loss(batch, weight)
        return self._expected_value_loss(batch, weight)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        if not self.automatic_optimization:
            return self._several_updates(batch)
        loss, q_sa = self._loss_of(batch)
        if is_logging_step(self.trainer):
            self._log_loss(loss, q_sa)
        return loss

    def _loss_of(self, batch: TensorDict) -> tuple[Tensor, Tensor]:
        """The batch's loss and ``Q(s, a)``; with prioritized replay the errors go back into the batch."""
        loss, q_sa, error = self.loss_terms(batch)
        if "priority_weight" in batch.keys():  # TorchRL's convention: the error goes back in the batch
            batch["td_error"] = error
        if not torch.isfinite(loss):  # acting already syncs with the device every batch: no extra stall
            raise NonFiniteLossError(
                f"loss is {loss.item()} at optimizer step {self.global_step}: training diverged and stops "
                "(the last checkpoint written is the last good one; try a lower model.lr, "
                "gradient clipping or model.loss: huber)"
            )
        return loss, q_sa

    def _log_loss(self, loss: Tensor, q_sa: Tensor) -> None:
        self.log_dict({"loss": loss.detach(), "q_mean": q_sa.detach().mean()}, batch_size=len(q_sa))

    def _several_updates(self, group) -> Tensor:
        """``data.updates_per_step`` updates in one Lightning step (manual optimization).

        Each batch of the group is played and sampled only when drawn, so it sees the update just
        made; after each update the per-update hooks run (``_after_update``). The loop stops early
        at ``trainer.max_steps``: every ``optimizer.step()`` counts in ``global_step``. Where it is
        the same arithmetic, the update skips Lightning's per-update dispatch (``direct_updates``)."""
        optimizer = self.optimizers()
        max_steps = self.trainer.max_steps
        clip = self.hparams.gradient_clip_val
        for batch in group:
            loss, q_sa = self._loss_of(batch)
            if self._direct_updates:
                direct_update(optimizer, loss, clip)
            else:
                lightning_update(self, optimizer, loss, clip)
            self._after_update()
            if 0 <= max_steps <= self.global_step:
                break
        if is_logging_step(self.trainer):  # the group's last update
            self._log_loss(loss, q_sa)
        return loss.detach()

    def on_train_start(self) -> None:
        """Which update path the fit takes: its strategy, precision and callbacks are set by now."""
        self._direct_updates = not self.automatic_optimization and can_update_directly(self.trainer, self)

    def _after_update(self) -> None:
        """What follows each update in the module's own loop, in the order Lightning's
        ``on_train_batch_end`` gives with one update per step: callbacks first, then the noise."""
        for callback in self.trainer.callbacks:
            hook = getattr(callback, "on_update_end", None)
            if hook is not None:
                hook(self.trainer, self)
        self._resample_noise()

    # ----------------------------------------------------------------- noisy networks' noise
    def _noise(self) -> torch.Generator:
        if self.noise_generator is None:
            seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
            rank = self.trainer.global_rank if self._trainer is not None else 0
            self.noise_generator = stream_generator(seed, rank, "noise")
        return self.noise_generator

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        """New noise after every optimizer step, drawn independently for the online and target nets.

        Runs after the callbacks' hooks, so a target copy made at this step (which copies the
        online net's noise too) is followed by fresh, independent noise for both. With several
        updates per step ``_after_update`` does it after each update instead."""
        if self.automatic_optimization:
            self._resample_noise()

    def _resample_noise(self) -> None:
        if self.hparams.noisy:
            resample_noise(self.q_net, self._noise())
            resample_noise(self.target_net, self._noise())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Refuses to write weights that are no longer finite, so no checkpoint ever holds them."""
        if not all(torch.isfinite(p).all() for p in self.q_net.parameters()):
            raise NonFiniteLossError(f"the online network's weights are not finite at step {self.global_step}")
        if self.noise_generator is not None:  # the current noise itself is in the weights (buffers)
            checkpoint["noise_rng"] = self.noise_generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "noise_rng" in checkpoint:
            self.noise_generator = torch.Generator()
            self.noise_generator.set_state(checkpoint["noise_rng"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The fused kernel updates all parameters in one call: ~30% faster steps for small nets, 6x
        # for the Nature CNN's 3.3M weights on a CPU. With fp16's loss scaler a fused step unscales
        # the gradients itself, so clipping them first would clip scaled ones: a run that clips
        # there gets the multi-tensor kernel. bf16 has no scaler and keeps the fused one.
        fused = self.device.type in ("cpu", "cuda") and not self._clips_scaled_gradients()
        hp = self.hparams
        return make_optimizer(
            hp.optimizer, self.q_net.parameters(), hp.lr, hp.adam_eps, hp.rmsprop_alpha, hp.rmsprop_eps,
            hp.rmsprop_centered, fused,
        )

    def _clips_scaled_gradients(self) -> bool:
        if self._trainer is None or getattr(self.trainer.precision_plugin, "scaler", None) is None:
            return False
        return bool(self.trainer.gradient_clip_val or self.hparams.gradient_clip_val)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """``trainer.gradient_clip_val`` (one update per step): norm clipping may keep a fused
        optimizer in bf16 (``direct_updates.clip_gradient_norm``); anything else is Lightning's."""
        if gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            clip_gradient_norm(self, optimizer, gradient_clip_val)
        else:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

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
