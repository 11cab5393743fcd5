"""TorchRL's tensor storages, with writes done one column at a time.

Every agent step's batch reaches the buffer through TorchRL's ``ReplayBuffer.extend``, whose
storage writes ``storage[index] = batch`` as a TensorDict assignment: per key it validates the
value, broadcasts shapes and moves devices. For CartPole's 16 rows that took 0.15 ms against
0.05 ms column by column here (``benchmarks/replay_write_speed.py``); inside a run, writing was
the largest part of playing.
TorchRL has no cheaper entry point for an already-initialised storage, so ``set`` is done here:
after TorchRL's own bookkeeping (the last cursor, the length, the mutation revision) each stored
column takes its rows with one ``index_copy_``. The buffer, its writer, its sampler, its
checkpoints and every row it holds stay TorchRL's; anything but a plain batch write (the first
write, which allocates the storage, a slice, a locked storage, a storage on a GPU) goes to
TorchRL's ``set``.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict
from torchrl.data import LazyMemmapStorage, LazyTensorStorage


class ColumnWriteMixin:
    """``set(index, batch)`` as one ``index_copy_`` per stored column, for a 1-D index tensor."""

    def set(self, cursor, data, *, set_cursor: bool = True):
        plain = isinstance(cursor, torch.Tensor) and cursor.dim() == 1 and isinstance(data, TensorDict)
        if not (plain and self.initialized and self._storage_keys is None):
            return super().set(cursor, data, set_cursor=set_cursor)
        columns = self._storage
        if columns.device is None or columns.device.type != "cpu":  # a device storage: TorchRL moves the batch
            return super().set(cursor, data, set_cursor=set_cursor)
        if set_cursor:
            self._set_last_cursor(cursor)
            self._get_new_len(data, cursor)
        for key, value in data.items(include_nested=True, leaves_only=True):
            columns.get(key).index_copy_(0, cursor, value)
        self._bump_mutation_revision()


class ColumnTensorStorage(ColumnWriteMixin, LazyTensorStorage):
    """``LazyTensorStorage`` (rows in RAM) written column by column."""


class ColumnMemmapStorage(ColumnWriteMixin, LazyMemmapStorage):
    """``LazyMemmapStorage`` (rows in memory-mapped files) written column by column."""


__all__ = ["ColumnMemmapStorage", "ColumnTensorStorage", "ColumnWriteMixin"]
