"""Identification metrics: pairwise identification (pixels) and AlexNet two-way identification.

Both score each reconstruction i by how often it is more similar to its own
true image than to the other true images of the set:

    score_i = #{j != i : s(pred_i, true_j) < s(pred_i, true_i)} / (N - 1)

Ties count as failures, so chance is 0.5 only for continuous-valued data and a
set of identical images scores 0. Scores depend on the whole set: the evaluator
scores one test set at a time.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from reconbench.metrics.features import image_features
from reconbench.metrics.inputs import MetricInputError, as_image_pair

#: Similarities accepted by :func:`pairwise_identification`.
IDENTIFICATION_METRICS = ("correlation", "euclidean")
#: Layers accepted by :func:`two_way_identification` and the AlexNet layer each one taps.
TWO_WAY_LAYERS = {"alexnet2": "conv2", "alexnet5": "conv5"}

# Rows per block of the similarity computation, as float64 copies: up to
# 512 MB of rows of ``a`` at a time, 128 MB of rows of ``b``. Each block of b is
# converted once per block of a, so large a-blocks keep that overhead small.
_A_BLOCK_BYTES = 512 * 2**20
_B_BLOCK_BYTES = 128 * 2**20


def _rows(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


def _unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first occurrence of each distinct row, and each row's group.

    Identical true images must get bit-identical similarities so that they tie
    exactly (as in a per-pair computation); computing each distinct row once and
    copying the result guarantees it, whatever the BLAS blocking does.

    Returns
    -------
    representatives : ndarray, shape (U,)
    group : ndarray, shape (N,), values in range(U)
    """
    buckets: dict[bytes, list[int]] = {}
    representatives: list[int] = []
    group = np.empty(x.shape[0], dtype=np.intp)
    for i in range(x.shape[0]):
        row = np.ascontiguousarray(x[i])
        key = hashlib.sha256(row.data).digest()
        for g in buckets.get(key, []):
            if np.array_equal(x[representatives[g]], row):
                group[i] = g
                break
        else:
            buckets.setdefault(key, []).append(len(representatives))
            group[i] = len(representatives)
            representatives.append(i)
    return np.asarray(representatives, dtype=np.intp), group


def _block_rows(n_features: int, budget: int) -> int:
    return max(1, budget // (8 * max(1, n_features)))


def _float64_rows(block: np.ndarray):
    """A float64 torch copy of ``block`` (always a copy: callers modify it in place)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(block)).to(torch.float64, copy=True)


def correlation_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation between every row of ``a`` and every row of ``b``.

    Parameters
    ----------
    a : ndarray, shape (N, ...)
    b : ndarray, shape (M, ...), same number of values per row as ``a``

    Returns
    -------
    ndarray, shape (N, M), float64
        NaN where a row is constant. Computed blockwise in float64 with torch
        matrix products, so memory stays bounded.
    """
    import torch

    a = _rows(a)
    b = _rows(b)
    step_a = _block_rows(a.shape[1], _A_BLOCK_BYTES)
    step_b = _block_rows(a.shape[1], _B_BLOCK_BYTES)
    # Norms of the centred rows of b, computed once.
    b_norms = np.empty(b.shape[0], dtype=np.float64)
    for j in range(0, b.shape[0], step_b):
        block = _float64_rows(b[j : j + step_b])
        block -= block.mean(dim=1, keepdim=True)
        b_norms[j : j + step_b] = torch.linalg.vector_norm(block, dim=1).numpy()
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.float64)
    a_norms_all = np.empty(a.shape[0], dtype=np.float64)
    for i in range(0, a.shape[0], step_a):
        a_block = _float64_rows(a[i : i + step_a])
        a_block -= a_block.mean(dim=1, keepdim=True)
        a_norms = torch.linalg.vector_norm(a_block, dim=1).numpy()
        for j in range(0, b.shape[0], step_b):
            # A centred row of a sums to zero, so its product with a raw row of
            # b equals the product with the centred row: b need not be centred.
            out[i : i + step_a, j : j + step_b] = (a_block @ _float64_rows(b[j : j + step_b]).T).numpy()
        a_norms_all[i : i + step_a] = a_norms
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i : i + step_a] /= a_norms[:, None] * b_norms[None, :]
    # A constant row has no correlation (its products are rounding noise over 0).
    out[a_norms_all == 0, :] = np.nan
    out[:, b_norms == 0] = np.nan
    return out


def negative_euclidean_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - ||a_i - b_j||`` for every row pair (bdpy's similarity for ``metric="euclidean"``).

    Parameters
    ----------
    a : ndarray, shape (N, ...)
    b : ndarray, shape (M, ...), same number of values per row as ``a``

    Returns
    -------
    ndarray, shape (N, M), float64
    """
    import torch

    a = _rows(a)
    b = _rows(b)
    step_a = _block_rows(a.shape[1], _A_BLOCK_BYTES)
    step_b = _block_rows(a.shape[1], _B_BLOCK_BYTES)
    # Distances are translation invariant; subtracting the mean row of b keeps
    # |a|^2 + |b|^2 - 2 a.b well conditioned for images in [0, 1].
    centre = torch.zeros(a.shape[1], dtype=torch.float64)
    for j in range(0, b.shape[0], step_b):
        centre += _float64_rows(b[j : j + step_b]).sum(dim=0)
    centre /= b.shape[0]
    b_norms = np.empty(b.shape[0], dtype=np.float64)
    for j in range(0, b.shape[0], step_b):
        b_norms[j : j + step_b] = (torch.linalg.vector_norm(_float64_rows(b[j : j + step_b]) - centre, dim=1) ** 2).numpy()
    squared = np.empty((a.shape[0], b.shape[0]), dtype=np.float64)
    for i in range(0, a.shape[0], step_a):
        a_block = _float64_rows(a[i : i + step_a]) - centre
        a_norms = (torch.linalg.vector_norm(a_block, dim=1) ** 2).numpy()
        for j in range(0, b.shape[0], step_b):
            products = (a_block @ (_float64_rows(b[j : j + step_b]) - centre).T).numpy()
            squared[i : i + step_a, j : j + step_b] = a_norms[:, None] + b_norms[None, j : j + step_b] - 2.0 * products
    return 1.0 - np.sqrt(np.maximum(squared, 0.0))


def identification_from_similarity(similarity: np.ndarray) -> np.ndarray:
    """Per-row identification score from a (pred x true) similarity matrix.

    Parameters
    ----------
    similarity : ndarray, shape (N, N)
        ``similarity[i, j] = s(pred_i, true_j)``; higher means more similar.

    Returns
    -------
    ndarray, shape (N,), float64
        ``#{j : s[i, j] < s[i, i]} / (n_i - 1)`` where ``n_i`` counts the
        non-NaN entries of row i (NaN similarities, e.g. with a constant image,
        are left out as in bdpy). A NaN diagonal gives 0, as in bdpy.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    diagonal = np.diag(similarity)[:, None]
    valid = ~np.isnan(similarity)
    with np.errstate(invalid="ignore"):
        wins = np.sum((similarity - diagonal) < 0, axis=1)
    n_valid = np.sum(valid, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = wins / (n_valid - 1.0)
    # A NaN diagonal makes every difference NaN; bdpy then scores 0 (0 / -1).
    return np.where(np.isnan(diagonal[:, 0]), 0.0, scores)


def _expanded_similarity(pred: np.ndarray, true: np.ndarray, similarity_fn) -> np.ndarray:
    representatives, group = _unique_rows(_rows(true))
    unique_true = _rows(true)[representatives]
    return similarity_fn(_rows(pred), unique_true)[:, group]


def pairwise_identification(pred: Any, true: Any, metric: str = "correlation") -> np.ndarray:
    """Pairwise identification accuracy on pixels (Shen et al. 2019; bdpy's convention).

    For each reconstruction i, the fraction of other true images j that are
    less similar to it than its own true image:
    ``#{j != i : s(pred_i, true_j) < s(pred_i, true_i)} / (N - 1)``, with ``s``
    the Pearson correlation of the flattened colour pixels
    (``metric="correlation"``) or ``1 - ||pred_i - true_j||``
    (``metric="euclidean"``). Ties count as failures. Equal to
    ``bdpy.evals.metrics.pairwise_identification(pred, true, metric)``.

    Parameters
    ----------
    pred, true : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1], N >= 2
    metric : {"correlation", "euclidean"}

    Returns
    -------
    ndarray, shape (N,), float64 in [0, 1]
        Higher is better; chance 0.5.
    """
    pred, true = as_image_pair(pred, true, min_images=2)
    if metric == "correlation":
        similarity = _expanded_similarity(pred, true, correlation_matrix)
    elif metric == "euclidean":
        similarity = _expanded_similarity(pred, true, negative_euclidean_matrix)
    else:
        raise MetricInputError(f"unknown identification metric {metric!r}; valid: {', '.join(IDENTIFICATION_METRICS)}")
    return identification_from_similarity(similarity)


def two_way_identification(
    pred: Any,
    true: Any,
    layer: str = "alexnet2",
    batch_size: int = 64,
    cache: str | os.PathLike | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """AlexNet two-way identification (the MindEye convention), one value per image.

    Features are ImageNet AlexNet activations after the ReLU of conv2
    (``layer="alexnet2"``, torchvision ``features.4``) or conv5
    (``"alexnet5"``, ``features.11``) of ImageNet-normalised images, flattened.
    For each reconstruction i, the score is the fraction of j != i with
    ``corr(f(pred_i), f(true_j)) < corr(f(pred_i), f(true_i))`` (ties fail), as
    in MindEye's ``two_way_identification`` (``np.corrcoef(reals, preds)``,
    ``success = r < diag(r)`` counted per prediction over the true images, divided by N - 1);
    the mean over images is MindEye's reported percentage.

    MindEye resizes to 256 pixels (shorter side) inside the metric; here the
    metric scores the arrays it is given and the evaluator supplies them at the
    evaluation resolution (256 x 256 for real data).

    Parameters
    ----------
    pred, true : ndarray or torch.Tensor, shape (N, 3, H, W), float in [0, 1], N >= 2, H, W >= 31
    layer : {"alexnet2", "alexnet5"}
    batch_size : int
        Images per AlexNet forward pass.
    cache : path, optional
        Cache folder with the weights (default ``$RECONBENCH_CACHE``).
    device : str
        Where AlexNet runs (:mod:`reconbench.core.device`); the correlations are computed on the CPU.

    Returns
    -------
    ndarray, shape (N,), float64 in [0, 1]
        Higher is better; chance 0.5.
    """

    pred, true = as_image_pair(pred, true, min_images=2)
    if layer not in TWO_WAY_LAYERS:
        raise MetricInputError(f"unknown two-way identification layer {layer!r}; valid: {', '.join(TWO_WAY_LAYERS)}")
    alexnet_layer = TWO_WAY_LAYERS[layer]
    on_device = {} if device == "cpu" else {"device": device}
    pred_features = image_features(pred, "alexnet", alexnet_layer, batch_size=batch_size, cache=cache, **on_device)
    true_features = image_features(true, "alexnet", alexnet_layer, batch_size=batch_size, cache=cache, **on_device)
    similarity = _expanded_similarity(pred_features, true_features, correlation_matrix)
    return identification_from_similarity(similarity)
