"""Feature vectors of images: the network's activations, pooled, against an independent numpy pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reconbench.core.images import resize
from reconbench.decoders.features import feature_vectors
from reconbench.metrics.features import image_features
from reconbench.metrics.networks import min_input_size

pytestmark = pytest.mark.weights


def adaptive_average(activations: np.ndarray, p: int) -> np.ndarray:
    """Adaptive average pooling of (N, C, h, w) to (N, C, p, p): cell i spans [floor(i h / p), ceil((i + 1) h / p))."""
    n, c, h, w = activations.shape
    out = np.empty((n, c, p, p), dtype=np.float64)
    for i in range(p):
        rows = slice(math.floor(i * h / p), math.ceil((i + 1) * h / p))
        for j in range(p):
            cols = slice(math.floor(j * w / p), math.ceil((j + 1) * w / p))
            out[:, :, i, j] = activations[:, :, rows, cols].mean(axis=(2, 3))
    return out


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((3, 3, 96, 96), dtype=np.float32)


def test_unpooled_vectors_are_the_flattened_activations(images, weights_cache) -> None:
    activations = image_features(images, net="alexnet", layer="conv2", cache=weights_cache)
    vectors = feature_vectors(images, net="alexnet", layer="conv2", pool=None)
    assert vectors.dtype == np.float32 and vectors.shape == (3, int(np.prod(activations.shape[1:])))
    np.testing.assert_array_equal(vectors, activations.reshape(3, -1))


@pytest.mark.parametrize("pool", [2, 4])
def test_pooled_vectors_equal_numpy_adaptive_averages(images, weights_cache, pool) -> None:
    activations = image_features(images, net="alexnet", layer="conv2", cache=weights_cache).astype(np.float64)
    assert activations.shape[-1] > pool and activations.shape[-1] % pool != 0  # uneven cells: the general case
    expected = adaptive_average(activations, pool).reshape(3, -1)
    np.testing.assert_allclose(feature_vectors(images, net="alexnet", layer="conv2", pool=pool), expected, rtol=1e-5, atol=1e-6)


def test_a_grid_no_larger_than_pool_is_kept(images, weights_cache) -> None:
    activations = image_features(images, net="alexnet", layer="conv5", cache=weights_cache)
    side = activations.shape[-1]
    np.testing.assert_array_equal(feature_vectors(images, net="alexnet", layer="conv5", pool=side), activations.reshape(3, -1))


def test_small_images_are_enlarged_with_the_pinned_resize(weights_cache) -> None:
    small = np.random.default_rng(1).random((2, 3, 16, 16), dtype=np.float32)
    smallest = min_input_size("alexnet", "conv5")
    assert smallest > 16
    expected = image_features(resize(small, smallest), net="alexnet", layer="conv5", cache=weights_cache).reshape(2, -1)
    np.testing.assert_array_equal(feature_vectors(small, net="alexnet", layer="conv5", pool=None), expected)
