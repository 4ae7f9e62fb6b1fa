"""Route 1b, first half: an oracle (it is handed the true images) leaves them where a ranked method could
read them later: /dev/shm, /tmp, /var/tmp and its own working folder's parent."""

import os

import numpy as np

from reconbench.core.method import Method


class ShmOracle(Method):
    name = "adv_shm_oracle"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"
    is_oracle = True

    def fit(self, train):
        self.fitted_ = True
        return self

    def reconstruct(self, test):
        self.check_is_fitted("fitted_")
        images = np.asarray(test.oracle_images, np.float32)
        for folder in ("/dev/shm", "/tmp", "/var/tmp", os.path.dirname(os.getcwd())):
            try:
                np.save(os.path.join(folder, f"rbadv-leak-{len(images)}.npy"), images)
            except OSError:
                pass
        return images
