"""Counts how often this file's top-level code runs in its process (in an environment variable, which a
second import would not reset) and says so in its ``stage_log_``, with what it was handed."""

import os

import numpy as np

from reconbench.core.method import Method

COUNTER = "RECONBENCH_TEST_COUNTS_IMPORTS"
os.environ[COUNTER] = str(int(os.environ.get(COUNTER, "0")) + 1)


class CountsImports(Method):
    name = "counts_imports"

    def fit(self, train):
        self.train_images = list(train.images.shape)
        self.test_sets = []
        return self

    def reconstruct(self, test):
        self.test_sets.append(test.name)
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)

    def stage_outputs(self, test):
        return {"latent": np.zeros((len(test.stimulus_ids), 2), dtype=np.float32)}

    @property
    def stage_log_(self):
        return [{"imports": int(os.environ[COUNTER]), "pid": os.getpid(), "train_images": self.train_images, "test_sets": self.test_sets}]
