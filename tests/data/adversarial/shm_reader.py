"""Route 1b, second half: a ranked method returns whatever true images an oracle left behind."""

import glob
import os

import numpy as np

from reconbench.core.method import Method


class ShmReader(Method):
    name = "adv_shm_reader"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        n = len(test.stimulus_ids)
        for folder in ("/dev/shm", "/tmp", "/var/tmp", os.path.dirname(os.getcwd())):
            for path in glob.glob(os.path.join(folder, f"rbadv-leak-{n}.npy")):
                try:
                    return np.load(path).astype(np.float32)
                except OSError:
                    pass
        return np.repeat(self.mean_[None], n, 0)
