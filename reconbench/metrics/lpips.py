"""LPIPS v0.1 perceptual distance (Zhang et al., CVPR 2018), one value per image pair."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from reconbench.core.device import device_kind, full_precision
from reconbench.metrics.inputs import MetricInputError, as_image_pair
from reconbench.metrics.weights import load_lpips

#: ``net`` argument -> backbone name in :mod:`reconbench.metrics.networks`.
LPIPS_BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}


def lpips(
    pred: Any,
    true: Any,
    net: str = "alex",
    batch_size: int = 32,
    cache: str | os.PathLike | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """LPIPS v0.1 distance between each reconstruction and its true image.

    Images are scaled from [0, 1] to [-1, 1] (``2x - 1``), then by LPIPS's
    scaling layer (shift (-0.030, -0.088, -0.188), scale (0.458, 0.448, 0.450)),
    passed through the ImageNet backbone; at each of the five taps the channel
    vectors are normalised to unit length, squared differences are weighted by
    the learned linear layer, averaged over space and summed over taps. This is
    the official ``lpips.LPIPS(net=..., version="0.1")`` forward pass without
    spatial output; with the fetched weights it gives 0.72188 and 0.13757 for
    the repository's ``ex_ref``/``ex_p0`` and ``ex_ref``/``ex_p1`` (net="alex").

    Parameters
    ----------
    pred, true : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1]
        H, W >= 31 for AlexNet, >= 16 for VGG16.
    net : {"alex", "vgg"}
    batch_size : int
        Image pairs per forward pass.
    cache : path, optional
        Cache folder with the weights (default ``$RECONBENCH_CACHE``).
    device : str
        Where the network runs (:mod:`reconbench.core.device`).

    Returns
    -------
    ndarray, shape (N,), float64 (computed in float32)
        Lower is better; 0 for identical images.
    """
    import torch

    from reconbench.metrics.networks import min_input_size  # lazy: loads torch

    pred, true = as_image_pair(pred, true)
    if net not in LPIPS_BACKBONES:
        raise MetricInputError(f"unknown LPIPS network {net!r}; valid: {', '.join(LPIPS_BACKBONES)}")
    if int(batch_size) < 1:
        raise MetricInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    backbone = LPIPS_BACKBONES[net]
    smallest = min_input_size(backbone, "conv5")
    if min(pred.shape[2:]) < smallest:
        raise MetricInputError(f"lpips (net={net!r}) needs images of at least {smallest} x {smallest} pixels, got {pred.shape[2:]}")
    model = load_lpips(backbone, cache, device)
    on_cpu = device_kind(device) == "cpu"
    out = np.empty(pred.shape[0], dtype=np.float64)
    step = int(batch_size)
    with torch.no_grad(), full_precision(device):
        for start in range(0, pred.shape[0], step):
            p = torch.from_numpy(np.ascontiguousarray(pred[start : start + step], dtype=np.float32))
            t = torch.from_numpy(np.ascontiguousarray(true[start : start + step], dtype=np.float32))
            if on_cpu:
                out[start : start + step] = model(2.0 * p - 1.0, 2.0 * t - 1.0).numpy()
            else:
                p, t = p.to(device, non_blocking=True), t.to(device, non_blocking=True)
                out[start : start + step] = model(2.0 * p - 1.0, 2.0 * t - 1.0).cpu().numpy()
    return out
