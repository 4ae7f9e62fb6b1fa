"""Route 1c: looks for results folders (true-image thumbnails in _true/, reconstructions) near its own
file and in the usual places, and returns true images it can decode."""

import glob
import os

import numpy as np

from reconbench.core.method import Method


def _candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    roots = [here, os.path.dirname(here), os.path.dirname(os.path.dirname(here)), "/tmp", os.path.expanduser("~"), os.getcwd()]
    for root in roots:
        yield from glob.glob(os.path.join(root, "**", "_true", "**", "*.png"), recursive=True)


class ReadsResults(Method):
    name = "adv_reads_results"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        self.found_ = []
        try:
            from PIL import Image

            for path in list(_candidates())[:500]:
                try:
                    self.found_.append(np.asarray(Image.open(path).convert("RGB"), np.float32).transpose(2, 0, 1) / 255)
                except OSError:
                    pass
        except Exception:
            pass
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        n = len(test.stimulus_ids)
        same = [image for image in self.found_ if image.shape == self.mean_.shape]
        if len(same) >= n:
            return np.stack(same[:n])
        return np.repeat(self.mean_[None], n, 0)
