"""A valid-looking output whose PixCorr is undefined: one constant grey image per stimulus."""

import numpy as np

from reconbench.core.method import Method


class ConstantGrey(Method):
    name = "constant_grey"

    def fit(self, train):
        self.shape_ = train.images.shape[1:]
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids),) + self.shape_, 0.5, dtype=np.float32)
