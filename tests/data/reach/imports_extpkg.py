"""A plugin that imports a package installed outside site-packages, through PYTHONPATH (issue 26, route 5)."""

import numpy as np

from reconbench.core.method import Method


class ImportsExtpkg(Method):
    name = "imports_extpkg"

    def fit(self, train):
        import extpkg  # a PYTHONPATH folder: readable by the sealed process

        self.value_ = extpkg.VALUE
        return self

    def reconstruct(self, test):
        self.stage_log_ = [{"value": self.value_}]
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, np.float32)
