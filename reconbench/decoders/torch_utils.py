"""torch's global state for a block of work: the CPU thread count and a seeded random state.

Generic helpers for any code that trains or runs torch networks reproducibly
(the divide-and-conquer generator and MLP classifier use them). torch is imported
lazily, when a block starts.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from reconbench.core.device import deterministic, rng_devices


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` torch CPU threads (0: unchanged); restore the setting after."""
    import torch

    previous = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded_torch(seed: int, threads: int = 0, device: str = "cpu") -> Iterator[None]:
    """Run a block with torch's global RNG seeded and a fixed thread count; restore both after.

    On the CPU ``torch.use_deterministic_algorithms`` is not switched on: the CPU
    kernels the methods use (convolutions, transposed convolutions, batch norm, Adam) are
    deterministic for a fixed thread count, and the switch costs about 10 s of
    imports on first use. On a CUDA ``device`` it is (with the cuDNN flags,
    :func:`reconbench.core.device.deterministic`), and that GPU's random state is
    saved and restored too. The tests check that one seed gives identical weights.
    """
    import torch

    with torch.random.fork_rng(devices=rng_devices(device)), torch_threads(threads), deterministic(device):
        torch.manual_seed(int(seed))
        yield
