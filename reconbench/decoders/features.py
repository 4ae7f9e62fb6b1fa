"""Pretrained-network feature vectors of images, for the retrieval and category baselines."""

from __future__ import annotations

import numpy as np

from reconbench.core.images import resize
from reconbench.metrics.features import image_features


def feature_vectors(
    images: np.ndarray,
    net: str = "alexnet",
    layer: str = "conv5",
    pool: int | None = 6,
    batch_size: int = 64,
) -> np.ndarray:
    """Flattened, optionally average-pooled activations of a pretrained network.

    Images smaller than the smallest input that reaches ``layer`` are first
    enlarged to that size with the pinned resize
    (:func:`reconbench.core.images.resize`); others are fed at their size.

    Parameters
    ----------
    images : ndarray, shape (N, 3, H, W), float in [0, 1]
    net, layer : str
        Passed to :func:`reconbench.metrics.features.image_features`.
    pool : int or None
        Average-pool the (h, w) activation grid to ``pool`` x ``pool``
        (adaptive pooling, as AlexNet's classifier input is 6 x 6); a grid
        already no larger than that, and ``pool=None``, are kept as they are.
    batch_size : int

    Returns
    -------
    ndarray, shape (N, C * p * p), float32
        ``p x p`` is the pooled grid (or the activation grid when not pooled).

    Raises
    ------
    WeightsMissingError
        The network weights are not in the cache (``reconbench weights fetch``).
    """
    import torch
    import torch.nn.functional as F

    from reconbench.metrics.networks import min_input_size  # lazy: loads torch

    images = np.asarray(images, dtype=np.float32)
    smallest = min_input_size(net, layer)
    if min(images.shape[2:]) < smallest:
        images = resize(images, smallest)
    activations = image_features(images, net=net, layer=layer, batch_size=batch_size)
    if pool is not None and max(activations.shape[2:]) > int(pool):
        with torch.no_grad():
            activations = F.adaptive_avg_pool2d(torch.from_numpy(np.ascontiguousarray(activations)), int(pool)).numpy()
    return activations.reshape(activations.shape[0], -1).astype(np.float32)
