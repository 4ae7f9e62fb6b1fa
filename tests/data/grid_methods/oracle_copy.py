"""A declared oracle: returns the true test images it is handed."""

import numpy as np

from reconbench.core.method import Method


class OracleCopy(Method):
    name = "oracle_copy"
    is_oracle = True

    def fit(self, train):
        return self

    def reconstruct(self, test):
        return np.asarray(test.oracle_images)
