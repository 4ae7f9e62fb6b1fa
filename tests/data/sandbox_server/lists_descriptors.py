"""Says which files its open descriptors are (device and inode of each, from ``fstat``), in ``stage_log_``:
a daemon it started would hold the same ones."""

import os

import numpy as np

from reconbench.core.method import Method


class ListsDescriptors(Method):
    name = "lists_descriptors"

    def fit(self, train):
        held = []
        for name in os.listdir("/proc/self/fd"):
            try:
                info = os.fstat(int(name))
            except OSError:
                continue
            held.append([info.st_dev, info.st_ino])
        self.stage_log_ = [{"held": held}]
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)
