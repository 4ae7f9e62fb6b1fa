"""Pretrained ImageNet CNN features of image batches (AlexNet, VGG16 convolution layers).

Used by the AlexNet two-way identification metric and by methods and baselines
that need image features (semantic decoders, K-means clusters). Weights come
from :mod:`reconbench.metrics.weights`; missing weights raise
:class:`~reconbench.core.errors.WeightsMissingError`.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import threading
from typing import Any

import numpy as np

from reconbench.core.device import device_kind, full_precision
from reconbench.metrics.inputs import MetricInputError, as_image_batch
from reconbench.metrics.weights import load_trunk

#: Networks accepted by :func:`image_features`.
NETWORKS = ("alexnet", "vgg16")

#: Bytes of features :func:`image_features` keeps for reuse inside :func:`reusing_features`
#: (the harness: the held-out images of a test set are scored by every cell a worker runs,
#: and twice per cell when the method reports stage outputs). 0 disables the reuse.
FEATURE_MEMO_BYTES = 384 * 2**20
_memo: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()
_memo_lock = threading.Lock()  # a Dask worker may score in several threads of one process
_reuse_depth = 0  # open reusing_features() blocks in this process


@contextlib.contextmanager
def reusing_features():
    """Inside the block, :func:`image_features` keeps what it computes (up to
    :data:`FEATURE_MEMO_BYTES`, the least recently used first out) and returns a copy for
    the same images, weights, layer, batch size and thread count: the bytes a new forward
    pass gives. Outside every such block it neither hashes nor keeps anything, so a
    method's process (fitting on its training images) pays nothing for it."""
    global _reuse_depth
    with _memo_lock:
        _reuse_depth += 1
    try:
        yield
    finally:
        with _memo_lock:
            _reuse_depth -= 1


def clear_feature_memo() -> None:
    """Forget the features :func:`image_features` kept for reuse."""
    with _memo_lock:
        _memo.clear()


def _recall(key: tuple) -> np.ndarray | None:
    with _memo_lock:
        if key not in _memo:
            return None
        _memo.move_to_end(key)
        return _memo[key].copy()


def _remember(key: tuple, features: np.ndarray) -> None:
    if features.nbytes > FEATURE_MEMO_BYTES:
        return
    with _memo_lock:
        _memo[key] = features
        _memo.move_to_end(key)
        while sum(value.nbytes for value in _memo.values()) > FEATURE_MEMO_BYTES:
            _memo.popitem(last=False)


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
    device: str = "cpu",
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
    device : str
        Where the network runs (:mod:`reconbench.core.device`); the features come back as numpy.

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
    trunk = load_trunk(net, cache, device)  # also when the features are reused: the cell records the weights
    on_cpu = device_kind(device) == "cpu"
    key = None
    if _reuse_depth and FEATURE_MEMO_BYTES:  # see reusing_features
        whole = np.ascontiguousarray(images, dtype=np.float32)
        key = (id(trunk), layer, int(batch_size), torch.get_num_threads(), whole.shape, hashlib.sha256(whole.data).hexdigest())
        if not on_cpu:
            key += (str(device),)
        reused = _recall(key)
        if reused is not None:
            return reused
    target = torch.device(str(device))
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=target).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=target).view(1, 3, 1, 1)
    chunks = []
    with torch.no_grad(), full_precision(device):
        for start in range(0, images.shape[0], int(batch_size)):
            part = torch.from_numpy(np.ascontiguousarray(images[start : start + int(batch_size)], dtype=np.float32))
            if not on_cpu:
                part = part.to(target, non_blocking=True)
            (activation,) = trunk((part - mean) / std, [layer])
            chunks.append(activation.numpy() if on_cpu else activation.cpu().numpy())
    features = np.concatenate(chunks, axis=0)
    if key is not None:
        _remember(key, features.copy())
    return features
