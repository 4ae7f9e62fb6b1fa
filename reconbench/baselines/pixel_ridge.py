"""Ridge pixel decoder: visual-cortex voxels -> image pixels."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reconbench.core.images import resize
from reconbench.core.method import Method
from reconbench.core.types import TestInput, TrainData
from reconbench.decoders.ridge import DEFAULT_ALPHAS, fit_ridge_decoder


class PixelRidge(Method):
    """Decode the colour pixels of the image linearly from voxels.

    The training images are reduced to ``resolution`` x ``resolution`` with the
    pinned resize (:func:`reconbench.core.images.resize`), every colour pixel
    is one ridge target (alpha per pixel on the validation fold), and the
    decoded images are resized back up to the training images' resolution with
    the same resize and clipped to [0, 1]. ``resolution=None`` decodes at the
    training resolution itself (3 x H x W targets: slow for 256-pixel images).

    Parameters
    ----------
    roi : str, default "VC"
        Key of ``TrainData.fmri`` used as input.
    resolution : int or None, default 32
        Side of the decoded pixel grid.
    samples : {"trials", "averaged"}, default "trials"
        Fit on single trials (Shen et al. 2019) or on per-image averages.
    alphas : sequence of float, default :data:`reconbench.decoders.ridge.DEFAULT_ALPHAS`
    alpha_per_target : bool, default True
    target_pca : None, int or float, default None
        Decode principal components of the pixel vectors instead of pixels.
    device : str, default "cpu"
        The run's device (the harness passes it): the ridge solve runs there.

    Attributes
    ----------
    decoder_ : reconbench.decoders.ridge.RidgeDecoder
    image_shape_ : tuple (3, H, W)
    decoded_shape_ : tuple (3, h, w)
    """

    name = "pixel_ridge"
    parameter_sets = {"default": {}, "pca": {"target_pca": 0.99}}
    citation = "Linear pixel decoding, e.g. Miyawaki et al. (2008), Neuron 60(5):915-929; ridge on single trials as in Shen, Horikawa, Majima & Kamitani (2019)"
    requires = ()

    def __init__(
        self,
        roi: str = "VC",
        resolution: int | None = 32,
        samples: str = "trials",
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        alpha_per_target: bool = True,
        target_pca: int | float | None = None,
        device: str = "cpu",
    ) -> None:
        self.roi = roi
        self.resolution = resolution
        self.samples = samples
        self.alphas = alphas
        self.alpha_per_target = alpha_per_target
        self.target_pca = target_pca
        self.device = device

    def fit(self, train: TrainData) -> "PixelRidge":
        """Fit the pixel decoder on ``train``; returns ``self``."""
        images = np.asarray(train.images, dtype=np.float32)
        if self.resolution is not None:
            if int(self.resolution) < 1:
                raise ValueError(f"resolution must be a positive int or None, got {self.resolution!r}")
            small = resize(images, int(self.resolution))
        else:
            small = images
        self.image_shape_ = tuple(images.shape[1:])
        self.decoded_shape_ = tuple(small.shape[1:])
        self.decoder_ = fit_ridge_decoder(
            train,
            self.roi,
            small.reshape(small.shape[0], -1),
            samples=self.samples,
            alphas=self.alphas,
            alpha_per_target=self.alpha_per_target,
            target_pca=self.target_pca,
            device=self.device,
        )
        return self

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Return decoded images of shape (M, 3, H, W), float32 in [0, 1]."""
        self.check_is_fitted("decoder_")
        pixels = self.decoder_.predict(np.asarray(test.fmri[self.roi], dtype=np.float32))
        decoded = np.clip(pixels.reshape((-1,) + self.decoded_shape_), 0.0, 1.0)
        return resize(decoded, self.image_shape_[1:])
