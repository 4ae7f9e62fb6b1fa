"""Pixel-level metrics: PixCorr and SSIM, one value per image."""

from __future__ import annotations

from typing import Any

import numpy as np

from reconbench.metrics.inputs import MetricInputError, as_image_pair

#: Rec. 709 luma weights used by scikit-image's ``rgb2gray``.
RGB2GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)
#: SSIM constants of Wang et al. (2004) and scikit-image.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
#: scikit-image's Gaussian window truncation (window radius int(3.5 * 1.5 + 0.5) = 5, 11 x 11 window).
SSIM_TRUNCATE = 3.5

# Images processed at once: bounds the float64 temporaries (about 12 arrays of
# chunk x H x W) to a few hundred MB at 256 x 256.
_CHUNK = 32


def pixcorr(pred: Any, true: Any) -> np.ndarray:
    """Pearson correlation between the flattened colour pixels of each image pair.

    Parameters
    ----------
    pred, true : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1]

    Returns
    -------
    ndarray, shape (N,), float64
        ``r(pred_i.ravel(), true_i.ravel())``, computed in float64; NaN where an image
        is constant (the correlation is undefined). Higher is better.
    """
    pred, true = as_image_pair(pred, true)
    n = pred.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        p = pred[start : start + _CHUNK].astype(np.float64).reshape(-1, pred[0].size)
        t = true[start : start + _CHUNK].astype(np.float64).reshape(p.shape)
        p -= p.mean(axis=1, keepdims=True)
        t -= t.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + _CHUNK] = np.einsum("ij,ij->i", p, t) / np.sqrt(np.einsum("ij,ij->i", p, p) * np.einsum("ij,ij->i", t, t))
    return out


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of RGB images, as scikit-image's ``rgb2gray``.

    Parameters
    ----------
    images : ndarray, shape (N, 3, H, W)

    Returns
    -------
    ndarray, shape (N, H, W), float64
    """
    images = np.asarray(images, dtype=np.float64)
    r, g, b = RGB2GRAY_WEIGHTS
    return r * images[:, 0] + g * images[:, 1] + b * images[:, 2]


def ssim(pred: Any, true: Any) -> np.ndarray:
    """Structural similarity of the grayscale images, one value per pair.

    The pinned recipe is scikit-image's
    ``structural_similarity(rgb2gray(p), rgb2gray(t), gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1.0)``: Gaussian-weighted
    local means, variances and covariance (sigma 1.5, truncated at 3.5 sigma,
    i.e. an 11 x 11 window, edges mirrored as ``scipy.ndimage`` ``mode="reflect"``),
    C1 = (0.01)^2, C2 = (0.03)^2, and the mean of the SSIM map after cropping
    the 5-pixel border. Computed in float64 for all images at once.

    Parameters
    ----------
    pred, true : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1], H, W >= 11

    Returns
    -------
    ndarray, shape (N,), float64
        Higher is better; 1 for identical images.
    """
    from scipy.ndimage import gaussian_filter

    pred, true = as_image_pair(pred, true)
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    win_size = 2 * radius + 1
    if min(pred.shape[2:]) < win_size:
        raise MetricInputError(f"ssim needs images of at least {win_size} x {win_size} pixels, got {pred.shape[2:]}")
    c1 = (SSIM_K1 * 1.0) ** 2
    c2 = (SSIM_K2 * 1.0) ** 2
    n = pred.shape[0]
    out = np.empty(n, dtype=np.float64)

    def local_mean(x: np.ndarray) -> np.ndarray:
        # sigma 0 on the image axis: the filter runs over rows and columns only,
        # the same 1-D passes scikit-image makes for one 2-D image.
        return gaussian_filter(x, sigma=(0.0, SSIM_SIGMA, SSIM_SIGMA), truncate=SSIM_TRUNCATE, mode="reflect")

    for start in range(0, n, _CHUNK):
        x = rgb_to_gray(pred[start : start + _CHUNK])
        y = rgb_to_gray(true[start : start + _CHUNK])
        ux, uy = local_mean(x), local_mean(y)
        vx = local_mean(x * x) - ux * ux
        vy = local_mean(y * y) - uy * uy
        vxy = local_mean(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        out[start : start + _CHUNK] = s[:, radius:-radius, radius:-radius].mean(axis=(1, 2), dtype=np.float64)
    return out
