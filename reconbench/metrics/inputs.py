"""Input checks shared by every metric: image batches of shape (N, 3, H, W) in [0, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np

from reconbench.core.errors import ReconbenchError


class MetricInputError(ReconbenchError, ValueError):
    """Images given to a metric have the wrong type, shape or value range."""


def as_image_batch(images: Any, name: str = "images", *, min_images: int = 1) -> np.ndarray:
    """Return ``images`` as a numpy array after checking shape, finiteness and range.

    Parameters
    ----------
    images : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1]
    name : str
        Name used in error messages (``"pred"``, ``"true"``).
    min_images : int
        Smallest allowed N.

    Returns
    -------
    ndarray, shape (N, 3, H, W)
        float32 or float64 (the input's float type; other types are refused), not copied
        when the input already is a numpy array.
    """
    if hasattr(images, "detach") and hasattr(images, "cpu"):  # a torch tensor
        images = images.detach().cpu().numpy()
    if not isinstance(images, np.ndarray):
        raise MetricInputError(f"{name}: expected a numpy array or torch tensor of shape (N, 3, H, W), got {type(images).__name__}")
    if images.dtype.kind != "f":
        raise MetricInputError(f"{name}: expected float images in [0, 1], got dtype {images.dtype} (convert uint8 images with x / 255)")
    if images.dtype not in (np.float32, np.float64):
        images = images.astype(np.float32)
    if images.ndim != 4 or images.shape[1] != 3:
        raise MetricInputError(f"{name}: expected shape (N, 3, H, W) with 3 colour channels, got {images.shape}")
    if images.shape[0] < min_images:
        raise MetricInputError(f"{name}: expected at least {min_images} image(s), got {images.shape[0]}")
    if images.size == 0:
        raise MetricInputError(f"{name}: empty images of shape {images.shape}")
    low, high = float(np.min(images)), float(np.max(images))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise MetricInputError(f"{name}: images contain NaN or infinite values")
    if low < 0.0 or high > 1.0:
        raise MetricInputError(f"{name}: expected values in [0, 1], found range [{low:.6g}, {high:.6g}]")
    return images


def as_image_pair(pred: Any, true: Any, *, min_images: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Check ``pred`` and ``true`` (see :func:`as_image_batch`) and that their shapes are equal.

    The shapes must match exactly: metrics never resize (the evaluator does, with
    :func:`reconbench.core.images.resize`).
    """
    pred = as_image_batch(pred, "pred", min_images=min_images)
    true = as_image_batch(true, "true", min_images=min_images)
    if pred.shape != true.shape:
        raise MetricInputError(
            f"pred and true must have the same shape (N, 3, H, W), got {pred.shape} and {true.shape}; "
            "metrics do not resize (the evaluator resizes both to the evaluation resolution)"
        )
    return pred, true
