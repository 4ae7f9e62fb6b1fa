"""Noise images from the cell's seed; refuses to run if it was handed true images."""

import numpy as np

from reconbench.core.method import Method


class SeededGrey(Method):
    name = "seeded_grey"
    parameter_sets = {"default": {"amplitude": 0.2}}

    def __init__(self, amplitude=0.2, seed=0):
        self.amplitude = amplitude
        self.seed = seed

    def fit(self, train):
        self.shape_ = train.images.shape[1:]
        return self

    def reconstruct(self, test):
        if test.oracle_images is not None:
            raise AssertionError("a non-oracle method was handed the true test images")
        rng = np.random.default_rng(self.seed)
        noise = rng.uniform(-self.amplitude, self.amplitude, (len(test.stimulus_ids),) + self.shape_)
        return np.clip(0.5 + noise, 0, 1).astype(np.float32)
