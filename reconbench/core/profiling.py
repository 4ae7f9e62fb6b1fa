"""Profiling shared by the harness and the methods: peak resident memory."""

from __future__ import annotations

import threading
from typing import Any


class PeakMemory:
    """Peak resident memory (MB) of this process while the block runs, sampled
    every ``interval`` seconds by a background thread (psutil)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_mb = float("nan")
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil  # lazy: only a profiled block needs it

        process = psutil.Process()
        while True:
            self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
            if self._stop.wait(self.interval):
                break

    def __enter__(self) -> "PeakMemory":
        import psutil

        self.peak_mb = psutil.Process().memory_info().rss / 2**20
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
