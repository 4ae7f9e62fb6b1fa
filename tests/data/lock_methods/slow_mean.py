"""A method that holds its cell for a while (the second-run lock test): the mean training image, after a pause."""

import time

import numpy as np

from reconbench.core.method import Method


class SlowMean(Method):
    name = "slow_mean"
    parameter_sets = {"default": {}}

    def fit(self, train):
        time.sleep(25)
        self.mean_ = np.asarray(train.images).mean(axis=0).astype(np.float32)
        return self

    def reconstruct(self, test):
        return np.repeat(self.mean_[None], len(test.stimulus_ids), axis=0)
