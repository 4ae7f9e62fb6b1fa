"""Route 1a: top-level code that tries to load the test images where it is imported (the harness, before
issue 26), from the data folders a user would have; falls back to the mean training image."""

import glob
import os

import numpy as np

from reconbench.core.method import Method

LEAKED = {}
try:
    from reconbench.datasets.splits import load_split

    for folder in [os.environ.get("RECONBENCH_DATA", ""), *glob.glob(os.path.expanduser("~/reconbench_data/*")), *glob.glob("/tmp/*/data*")]:
        try:
            split = load_split(folder, "sub-01")
            LEAKED = {name: images for name, (_, images) in split.test_images.items()}
            break
        except Exception:
            continue
except Exception:
    pass


class ImportTime(Method):
    name = "adv_import_time"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        for images in LEAKED.values():
            if len(images) == len(test.stimulus_ids):
                return np.asarray(images, np.float32)
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)
