"""Decoding targets computed from images: pure functions of an image (and of fitted statistics).

One implementation, shared by the methods that decode these targets and by the
harness, which computes their true values on the held-out test images in its own
process for the stage-wise diagnostics (:mod:`reconbench.bench.diagnostics`: a
method's stage spaces name these functions by kind and give their arguments as
data; no method code runs there).

:func:`shape_maps`
    The grayscale layout of an image at a low resolution: the image is resized
    with the pinned resize, converted to Rec. 709 luma, blurred with a Gaussian
    and its mean removed (``kind="blur"``, the default), or the gradient
    magnitude of that blurred map (``kind="edge"``). Stage space kind ``shape_map``.
:func:`project_features`
    Pooled pretrained features (:func:`reconbench.decoders.features.feature_vectors`)
    standardised and projected on principal components, scaled by the standard
    deviation of the first component, with statistics fitted on training images.
    Stage space kind ``feature_pca``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize

#: Rec. 709 luma weights, the ones scikit-image's ``rgb2gray`` uses.
LUMA_709 = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)

SHAPE_KINDS = ("blur", "edge")


def shape_maps(images: np.ndarray, size: int = 64, blur_sigma: float = 1.5, kind: str = "blur") -> np.ndarray:
    """Compute the shape map of each image.

    Parameters
    ----------
    images : ndarray, shape (N, 3, H, W), float in [0, 1]
    size : int
        Side of the square shape map (the images are resized with the pinned resize).
    blur_sigma : float
        Standard deviation of the Gaussian blur, in pixels of the ``size`` grid.
    kind : {"blur", "edge"}
        ``blur``: blurred grayscale with the per-image mean removed;
        ``edge``: gradient magnitude (Sobel) of the blurred grayscale, mean removed.

    Returns
    -------
    ndarray, shape (N, size, size), float32
        Each map has zero mean.
    """
    if kind not in SHAPE_KINDS:
        raise ReconbenchError(f"shape map kind {kind!r} is not one of {', '.join(SHAPE_KINDS)}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ReconbenchError(f"expected images of shape (N, 3, H, W), got shape {images.shape}")
    small = resize(images, size)
    gray = np.tensordot(LUMA_709, small, axes=([0], [1])).astype(np.float64)  # (N, size, size)
    if blur_sigma > 0:
        gray = ndimage.gaussian_filter(gray, sigma=(0, blur_sigma, blur_sigma), mode="reflect")
    if kind == "edge":
        # Sobel per image: ndimage.sobel on the (N, s, s) stack would also smooth across images.
        derivative, smoothing = [-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]
        gy = ndimage.correlate1d(ndimage.correlate1d(gray, derivative, axis=1, mode="reflect"), smoothing, axis=2, mode="reflect")
        gx = ndimage.correlate1d(ndimage.correlate1d(gray, derivative, axis=2, mode="reflect"), smoothing, axis=1, mode="reflect")
        gray = np.hypot(gx, gy)
    gray -= gray.mean(axis=(1, 2), keepdims=True)
    return gray.astype(np.float32)


def project_features(features: np.ndarray, mean, scale, components, score_scale) -> np.ndarray:
    """Standardise features and project them on principal components: ``((f - mean) / scale) @ components.T / score_scale``.

    Parameters
    ----------
    features : ndarray, shape (N, F)
        Cast to float32.
    mean, scale : array_like, shape (F,)
        Training statistics of the features.
    components : array_like, shape (D, F)
    score_scale : float or array_like of one number
        The standard deviation of the first component's training scores.

    Returns
    -------
    ndarray, shape (N, D), float32
    """
    features = np.asarray(features, dtype=np.float32)
    divisor = float(np.asarray(score_scale).reshape(-1)[0])
    return (((features - mean) / scale) @ np.asarray(components).T / divisor).astype(np.float32)
