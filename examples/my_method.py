"""A method in one file: the worked example of docs/add-a-method.md.

Run it next to the built-in methods with::

    reconbench run --dataset simulated:tiny --data DATA --out results/mine \\
        --methods-dir examples --methods my_lowres_ridge

It decodes a low-resolution colour image from visual-cortex voxels with ridge
regression (closed form, kernel form because there are fewer training images
than voxels) and lets the evaluator upsample it. It uses only ``numpy`` and the
harness's pinned resize.
"""

from __future__ import annotations

import numpy as np

from reconbench.core.images import resize
from reconbench.core.method import Method
from reconbench.core.types import TestInput, TrainData


class LowResRidge(Method):
    """Ridge regression from ROI voxels to a ``size`` x ``size`` RGB image.

    Parameters
    ----------
    alpha : float
        Ridge penalty on standardised voxels.
    size : int
        Side of the decoded image in pixels.
    roi : str
        ROI (or union) whose voxels are used, e.g. ``"VC"``.
    """

    name = "my_lowres_ridge"
    # The harness runs every named parameter set; each gets its own params hash.
    parameter_sets = {
        "default": {"alpha": 100.0, "size": 8, "roi": "VC"},
        "lvc": {"alpha": 100.0, "size": 8, "roi": "LVC"},
    }
    citation = "reconbench docs, 'Add a method' (worked example)"
    requires = ()

    def __init__(self, alpha: float = 100.0, size: int = 8, roi: str = "VC"):
        # Store hyperparameters unchanged (scikit-learn style): they define the params hash.
        self.alpha = alpha
        self.size = size
        self.roi = roi

    def fit(self, train: TrainData) -> "LowResRidge":
        """Fit on repetition-averaged responses (S, V) -> images (S, 3 * size * size)."""
        voxels = train.averaged_fmri(self.roi).astype(np.float64)
        self.voxel_mean_ = voxels.mean(axis=0)
        self.voxel_scale_ = voxels.std(axis=0) + 1e-6
        x = (voxels - self.voxel_mean_) / self.voxel_scale_
        y = resize(train.images, self.size).reshape(len(x), -1).astype(np.float64)
        self.pixel_mean_ = y.mean(axis=0)
        # Kernel (dual) ridge: (X X^T + alpha I) c = Y - mean, weights W = X^T c.
        gram = x @ x.T
        coef = np.linalg.solve(gram + self.alpha * np.eye(len(x)), y - self.pixel_mean_)
        self.weights_ = x.T @ coef
        return self

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Return (M, 3, size, size) float32 in [0, 1], one image per ``test.stimulus_ids`` row."""
        self.check_is_fitted("weights_")
        x = (np.asarray(test.fmri[self.roi], dtype=np.float64) - self.voxel_mean_) / self.voxel_scale_
        pixels = x @ self.weights_ + self.pixel_mean_
        images = pixels.reshape(len(x), 3, self.size, self.size)
        return np.clip(images, 0.0, 1.0).astype(np.float32)
