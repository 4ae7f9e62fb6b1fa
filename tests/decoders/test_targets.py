"""Decoding targets computed from images: shape maps against scikit-image, and the feature projection."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.filters import gaussian, sobel

from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize
from reconbench.decoders.targets import project_features, shape_maps


def _images(n=4, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, size, size)).astype(np.float32)


def test_blur_shape_map_matches_scikit_image():
    images = _images()
    maps = shape_maps(images, size=32, blur_sigma=1.5, kind="blur")
    small = resize(images, 32)
    for image, got in zip(small, maps):
        gray = rgb2gray(image.transpose(1, 2, 0).astype(np.float64))
        expected = gaussian(gray, sigma=1.5, mode="reflect", truncate=4.0, preserve_range=True)
        expected -= expected.mean()
        np.testing.assert_allclose(got, expected, atol=2e-5)
    assert maps.shape == (4, 32, 32) and maps.dtype == np.float32


def test_edge_shape_map_is_proportional_to_scikit_image_sobel():
    images = _images()
    maps = shape_maps(images, size=32, blur_sigma=1.0, kind="edge")
    small = resize(images, 32)
    for image, got in zip(small, maps):
        blurred = gaussian(rgb2gray(image.transpose(1, 2, 0).astype(np.float64)), sigma=1.0, mode="reflect", truncate=4.0, preserve_range=True)
        reference = sobel(blurred, mode="reflect")
        inner = (slice(2, -2), slice(2, -2))
        r = np.corrcoef(got[inner].ravel(), reference[inner].ravel())[0, 1]
        assert r > 0.9999
        assert abs(got.mean()) < 1e-5


def test_shape_map_rejects_bad_input():
    with pytest.raises(ReconbenchError, match="kind"):
        shape_maps(_images(), kind="canny")
    with pytest.raises(ReconbenchError, match="shape"):
        shape_maps(np.zeros((2, 1, 8, 8), np.float32))


def test_feature_projection_standardises_projects_and_scales() -> None:
    rng = np.random.default_rng(4)
    features = rng.random((5, 7)).astype(np.float32)
    mean, scale = rng.random(7).astype(np.float32), (1 + rng.random(7)).astype(np.float32)
    components = rng.standard_normal((3, 7)).astype(np.float32)
    got = project_features(features, mean, scale, components, np.float64(2.5))
    expected = ((features.astype(np.float64) - mean) / scale) @ components.T.astype(np.float64) / 2.5
    assert got.shape == (5, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # The score scale may come as a number or as an array of one number (a stage space's arrays).
    np.testing.assert_array_equal(project_features(features, mean, scale, components, np.array([2.5])), got)
