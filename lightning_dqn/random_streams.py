"""One random generator per consumer, each seeded from the run's seed, rank and the consumer's name.

A consumer that draws from torch's (or numpy's) global generator shares it with everything else
that does: Lightning creating a DataLoader iterator (every evaluation makes a new one), a logger,
a video writer. Each such draw shifts every later replay sample, so changing how often a run
evaluates would change what it learns. Here acting, replay sampling, the noisy layers' noise and
evaluation each own a generator; the global one is used only to initialise the networks, at
construction.
"""

from __future__ import annotations

import numpy as np
import torch

# the named streams derived here (append only: a stream's index is part of its seed); acting and
# evaluation seed their own numpy generators
STREAMS = ("replay", "noise")


def stream_seed(seed: int, rank: int, stream: str) -> int:
    """A 63-bit seed for ``stream`` on process ``rank`` of a run seeded ``seed``.

    Different streams, ranks and seeds give unrelated seeds (numpy's ``SeedSequence`` hashes them),
    and the same three always give the same one:

    >>> stream_seed(0, 0, "replay") == stream_seed(0, 0, "replay")
    True
    >>> len({stream_seed(0, 0, "replay"), stream_seed(0, 1, "replay"), stream_seed(1, 0, "replay")})
    3
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {', '.join(STREAMS)}")
    entropy = [int(seed) % 2**32, int(rank), STREAMS.index(stream)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def stream_generator(seed: int, rank: int, stream: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``stream_seed(seed, rank, stream)``."""
    return torch.Generator().manual_seed(stream_seed(seed, rank, stream))


__all__ = ["STREAMS", "stream_generator", "stream_seed"]
