"""Failure: allocates (and touches) 6 GB, past any reasonable --cell-memory."""

import numpy as np

from reconbench.core.method import Method


class MemoryHog(Method):
    name = "memory_hog"

    def fit(self, train):
        self.hoard_ = [np.ones(2**27) for _ in range(6)]  # 6 x 1 GiB
        return self

    def reconstruct(self, test):
        raise AssertionError("never reached")
