"""A third-party method written against the pre-0.2 import paths (``reconbench.bench.*``).

Those paths are deprecated aliases of ``reconbench.core.*`` kept for one release:
this file must still load (with a DeprecationWarning) and run.
"""

import numpy as np

from reconbench.bench.images import resize
from reconbench.bench.method import Method
from reconbench.bench.types import TestInput, TrainData


class OldPathsMean(Method):
    """The mean training image, computed at ``size`` x ``size`` and resized back."""

    name = "old_paths_mean"

    def __init__(self, size=4):
        self.size = size

    def fit(self, train: TrainData) -> "OldPathsMean":
        self.image_size_ = train.images.shape[-1]
        self.mean_ = resize(train.images, self.size).mean(axis=0)
        return self

    def reconstruct(self, test: TestInput) -> np.ndarray:
        self.check_is_fitted("mean_")
        image = resize(self.mean_[None], self.image_size_)[0]
        return np.repeat(image[None], len(test.stimulus_ids), axis=0).astype(np.float32)
