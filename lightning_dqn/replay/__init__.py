"""Replay memory on TorchRL buffers: what the agent writes and the loss samples.

- ``memory``: which memory a run gets (layout, uniform or prioritized, RAM or memory-mapped) and its writer
- ``transitions``: one record per transition, sampled uniformly
- ``n_step``: n-step transitions written as their windows close (for ``transitions``)
- ``column_writes``: TorchRL's storages, written one column at a time
- ``frames``: each frame stored once; stacks and n-step returns rebuilt when sampling
- ``prioritized``: prioritized sampling, stamped writes, annealed beta
- ``checkpoint``: the buffer in checkpoints (dumped beside them, or inside each)
"""
