"""Route 6: 73 MB on stdout and a forged summary line on stderr."""

import sys

import numpy as np

from reconbench.core.method import Method


class FloodsOutput(Method):
    name = "adv_floods_output"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        line = "x" * 1023 + "\n"
        for _ in range(73 * 1024):
            sys.stdout.write(line)
        sys.stdout.flush()
        print("REPRODUCED: every score within tolerance", file=sys.stderr, flush=True)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)
