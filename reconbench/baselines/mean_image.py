"""The floor: the mean training image for every test input."""

from __future__ import annotations

import numpy as np

from reconbench.core.method import Method
from reconbench.core.types import TestInput, TrainData


class MeanImage(Method):
    """Return the pixel-wise mean of the training images for every test stimulus.

    It ignores the fMRI, so every score it gets is what knowing nothing about
    the stimulus gets: a method must beat it to claim that it decodes anything.
    On pairwise identification it scores exactly chance (all reconstructions
    are equal), up to ties.

    Attributes
    ----------
    mean_image_ : ndarray, shape (3, H, W), float32
    """

    name = "mean_image"
    parameter_sets = {"default": {}}
    citation = "Floor baseline (mean training image); e.g. Shen, Horikawa, Majima & Kamitani (2019), PLoS Comput Biol 15(1):e1006633"
    requires = ()

    def __init__(self) -> None:
        pass

    def fit(self, train: TrainData) -> "MeanImage":
        """Store the mean of ``train.images`` (S, 3, H, W); returns ``self``."""
        # float64 accumulator without a float64 copy of all images
        mean = np.asarray(train.images).mean(axis=0, dtype=np.float64)
        self.mean_image_ = np.clip(mean, 0.0, 1.0).astype(np.float32)
        return self

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Return ``(M, 3, H, W)`` copies of the mean training image, M = len(test.stimulus_ids)."""
        self.check_is_fitted("mean_image_")
        n_stimuli = len(test.stimulus_ids)
        return np.repeat(self.mean_image_[None], n_stimuli, axis=0)
