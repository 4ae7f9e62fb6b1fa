"""Writes into its unlabelled extra images (a method may: they were always handed over writable)."""

import numpy as np

from reconbench.core.method import Method


class WritesExtra(Method):
    name = "writes_extra"

    def fit(self, train):
        extra = train.extra_images
        before = float(extra[0, 0, 0, 0])
        extra[0] = 0.25  # must not reach the parent's copy or the next cell
        self.stage_log_ = [
            {
                "writeable": bool(extra.flags.writeable),
                "before": before,
                "after": float(extra[0, 0, 0, 0]),
                "images_writeable": bool(train.images.flags.writeable),
                "sum_rest": float(extra[1:].sum()),
            }
        ]
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)
