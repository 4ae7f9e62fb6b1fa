"""Peak memory of a block."""

from __future__ import annotations

import time

import numpy as np
import psutil

from reconbench.core.profiling import PeakMemory


def test_peak_memory_sees_what_the_block_holds() -> None:
    with PeakMemory(interval=0.005) as memory:
        block = np.ones((64, 2**20 // 8))  # 64 MB, written
        held_mb = psutil.Process().memory_info().rss / 2**20
        time.sleep(0.1)  # several sampling intervals while it is held
        del block
    assert memory.peak_mb >= held_mb - 1  # sampled while the block was held (RSS moves by pages)
    assert memory.peak_mb >= 64
