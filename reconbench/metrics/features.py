"""Pretrained ImageNet CNN features of image batches (AlexNet, VGG16 convolution layers).

Used by the AlexNet two-way identification metric and by methods and baselines
that need image features (semantic decoders, K-means clusters). Weights come
from :mod:`reconbench.metrics.weights`; missing weights raise
:class:`~reconbench.core.errors.WeightsMissingError`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from reconbench.metrics.inputs import MetricInputError, as_image_batch
from reconbench.metrics.weights import load_trunk

#: Networks accepted by :func:`image_features`.
NETWORKS = ("alexnet", "vgg16")


def feature_layers(net: str) -> list[str]:
    """Layer names accepted by :func:`image_features` for ``net``.

    AlexNet: ``conv1`` ... ``conv5``. VGG16: ``conv1_1`` ... ``conv5_3`` and the
    block names ``conv1`` ... ``conv5`` (the last convolution of each block,
    i.e. relu1_2, relu2_2, relu3_3, relu4_3, relu5_3). Every output is taken
    after the layer's ReLU and before any pooling.
    """
    from reconbench.metrics.networks import ALEXNET_RELU_INDEX, VGG16_RELU_INDEX  # lazy: loads torch

    if net == "alexnet":
        return list(ALEXNET_RELU_INDEX)
    if net == "vgg16":
        return list(VGG16_RELU_INDEX)
    raise MetricInputError(f"unknown network {net!r}; valid: {', '.join(NETWORKS)}")


def image_features(
    images: Any,
    net: str = "alexnet",
    layer: str = "conv5",
    batch_size: int = 64,
    cache: str | os.PathLike | None = None,
) -> np.ndarray:
    """Activations of a pretrained ImageNet network for a batch of images.

    The images are normalised with the ImageNet channel mean (0.485, 0.456,
    0.406) and standard deviation (0.229, 0.224, 0.225), the normalisation the
    weights were trained with, and fed at the size given (no resizing).

    Parameters
    ----------
    images : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1]
    net : {"alexnet", "vgg16"}
    layer : str
        See :func:`feature_layers`; output after the ReLU of that convolution.
    batch_size : int
        Images per forward pass (memory/speed trade-off only; results do not depend on it
        beyond float32 rounding).
    cache : path, optional
        Cache folder holding the converted weights (default ``$RECONBENCH_CACHE``).

    Returns
    -------
    ndarray, shape (N, C, h, w), float32
        E.g. AlexNet at 256 x 256: conv2 (N, 192, 31, 31), conv5 (N, 256, 15, 15).

    Raises
    ------
    WeightsMissingError
        The weights are not in the cache (run ``reconbench weights fetch``).
    MetricInputError
        Bad images, unknown net/layer, or images too small for ``layer``.
    """
    import torch

    from reconbench.metrics.networks import IMAGENET_MEAN, IMAGENET_STD, min_input_size  # lazy: loads torch

    images = as_image_batch(images, "images")
    if layer not in feature_layers(net):
        raise MetricInputError(f"unknown {net} layer {layer!r}; valid: {', '.join(feature_layers(net))}")
    if int(batch_size) < 1:
        raise MetricInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    smallest = min_input_size(net, layer)
    if min(images.shape[2:]) < smallest:
        raise MetricInputError(f"{net} {layer} needs images of at least {smallest} x {smallest} pixels, got {images.shape[2]} x {images.shape[3]}")
    trunk = load_trunk(net, cache)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    chunks = []
    with torch.no_grad():
        for start in range(0, images.shape[0], int(batch_size)):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + int(batch_size)], dtype=np.float32))
            (activation,) = trunk((batch - mean) / std, [layer])
            chunks.append(activation.numpy())
    return np.concatenate(chunks, axis=0)
