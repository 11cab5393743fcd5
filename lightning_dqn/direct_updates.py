"""One gradient step in the module's own update loop, with or without Lightning's per-update dispatch.

With ``data.updates_per_step`` > 1 the module makes K updates in one Lightning step (manual
optimization). Lightning's ``manual_backward``, ``clip_gradients`` and ``LightningOptimizer.step``
route every update through the strategy and the precision plugin and call three hooks on every
callback and the module (``on_before_backward``, ``on_after_backward``, ``on_before_optimizer_step``;
each dispatch walks all callbacks under a profiler context). On ``cartpole_fast.yaml``'s settings
that is about 0.3 ms of a 3.5-4 ms update cycle on the 2-core CPU (``benchmarks/update_path_speed.py``).

On one process in 32-bit precision those layers add nothing to the arithmetic: the strategy's
backward is ``loss.backward()``, the precision plugin's clip is ``clip_grad_norm_`` over the
optimizer's parameters, and its step is the optimizer's step. So when no callback and not the
module override those hooks (nothing would be skipped), the update calls torch directly and still
tells Lightning about each step (``global_step``, ``max_steps`` and the profiler's
``optimizer_step`` see every one). Anywhere else (DDP, mixed precision, a callback that watches
gradients) the update goes through Lightning, as before. Both give the same weights, bit for bit
(``tests/test_updates_per_step.py``).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor
from torch.optim import Optimizer

# What a direct update does not call: a callback or module that defines one of these gets Lightning's path.
# (``configure_gradient_clipping`` is not among them: Lightning calls it only in automatic optimization.)
CALLBACK_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
MODULE_HOOKS = (*CALLBACK_HOOKS, "backward")


def can_update_directly(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether a direct update is exactly Lightning's: one process, 32-bit, no per-update hook to call."""
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    if any(is_overridden(hook, module, pl.LightningModule) for hook in MODULE_HOOKS):
        return False
    return not any(is_overridden(hook, cb, pl.Callback) for cb in trainer.callbacks for hook in CALLBACK_HOOKS)


def lightning_update(module: pl.LightningModule, optimizer: LightningOptimizer, loss: Tensor, clip: float | None) -> None:
    """Zero the gradients, backward, clip the global norm, step: each through Lightning."""
    optimizer.zero_grad(set_to_none=True)
    module.manual_backward(loss)
    if clip is not None:
        clip_gradient_norm(module, optimizer, clip)
    optimizer.step()


def clip_gradient_norm(module: pl.LightningModule, optimizer: Optimizer, clip: float) -> None:
    """Lightning's ``clip_gradients(optimizer, clip, "norm")``, except in bf16 mixed precision.

    Lightning's mixed-precision plugin refuses to clip a fused optimizer's gradients: with fp16 its
    loss scaler leaves them scaled until the fused step unscales them, so clipping them there
    would clip the wrong norm. bf16 has no scaler (``plugin.scaler is None``): its gradients are
    the true ones, in float32 like the weights, and clipping them is what 32-bit does. Refusing
    would cost the fused Adam, whose step over the Nature CNN's 3.3M weights takes 3 ms on this
    CPU against the multi-tensor kernel's 16 ms.
    """
    plugin = module.trainer.precision_plugin
    if isinstance(plugin, MixedPrecision) and plugin.scaler is None:
        torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], clip)
    else:
        module.clip_gradients(optimizer, clip, "norm")


def direct_update(optimizer: LightningOptimizer, loss: Tensor, clip: float | None) -> None:
    """``lightning_update`` on one process in 32-bit, calling torch directly (see the module docstring).

    ``_on_before_step``/``_on_after_step`` are what ``LightningOptimizer.step`` calls around the
    step in manual optimization: they count it in ``global_step`` and time it for the profiler.
    """
    raw = optimizer.optimizer
    raw.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_([p for group in raw.param_groups for p in group["params"]], clip)
    optimizer._on_before_step()
    raw.step()
    optimizer._on_after_step()


__all__ = ["can_update_directly", "clip_gradient_norm", "direct_update", "lightning_update"]
