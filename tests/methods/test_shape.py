"""Tests of the shape stage: shape-map targets, ROI decoders and their NNLS combination."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from skimage.color import rgb2gray
from skimage.filters import gaussian, sobel

from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize
from reconbench.core.types import TrainData
from reconbench.decoders.ridge import fit_ridge_decoder
from reconbench.methods import _shape


def _images(n=4, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, size, size)).astype(np.float32)


def test_blur_shape_map_matches_scikit_image():
    images = _images()
    maps = _shape.shape_maps(images, size=32, blur_sigma=1.5, kind="blur")
    small = resize(images, 32)
    for image, got in zip(small, maps):
        gray = rgb2gray(image.transpose(1, 2, 0).astype(np.float64))
        expected = gaussian(gray, sigma=1.5, mode="reflect", truncate=4.0, preserve_range=True)
        expected -= expected.mean()
        np.testing.assert_allclose(got, expected, atol=2e-5)
    assert maps.shape == (4, 32, 32) and maps.dtype == np.float32


def test_edge_shape_map_is_proportional_to_scikit_image_sobel():
    images = _images()
    maps = _shape.shape_maps(images, size=32, blur_sigma=1.0, kind="edge")
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
        _shape.shape_maps(_images(), kind="canny")
    with pytest.raises(ReconbenchError, match="shape"):
        _shape.shape_maps(np.zeros((2, 1, 8, 8), np.float32))


def test_nnls_combination_recovers_known_weights():
    rng = np.random.default_rng(1)
    p1, p2, p3 = (rng.standard_normal((30, 20)) for _ in range(3))
    target = 0.7 * p1 + 0.3 * p2
    np.testing.assert_allclose(_shape.fit_combination_weights([p1, p2, p3], target), [0.7, 0.3, 0.0], atol=1e-10)
    # An anti-correlated predictor gets weight zero, never a negative one.
    weights = _shape.fit_combination_weights([p1, -p2], p1 + 0.5 * p2)
    assert weights[1] == 0.0 and weights[0] > 0
    reference, _ = optimize.nnls(np.stack([p1.ravel(), -p2.ravel()], 1), (p1 + 0.5 * p2).ravel())
    np.testing.assert_allclose(weights, reference)


def _synthetic_train(n_images=60, reps=2, seed=0):
    """V1 carries the targets linearly; V2 is noise only."""
    rng = np.random.default_rng(seed)
    targets = rng.standard_normal((n_images, 16)).astype(np.float32)
    mixing = rng.standard_normal((16, 40))
    index = np.repeat(np.arange(n_images), reps)
    v1 = targets[index] @ mixing + 0.5 * rng.standard_normal((index.size, 40))
    v2 = rng.standard_normal((index.size, 30))
    validation = np.zeros(n_images, bool)
    validation[::5] = True
    train = TrainData(
        images=np.zeros((n_images, 3, 8, 8), np.float32),
        stimulus_ids=np.array([f"s{i:03d}" for i in range(n_images)]),
        fmri={"V1": v1.astype(np.float32), "V2": v2.astype(np.float32)},
        trial_image_index=index,
        runs=np.zeros(index.size, int),
        validation_mask=validation,
    )
    return train, targets


def test_shape_decoder_weights_informative_roi():
    train, targets = _synthetic_train()
    decoder = _shape.ShapeDecoder.fit(train, targets, ("V1", "V2"))
    weights = dict(zip(decoder.rois, decoder.combination_weights))
    assert np.all(decoder.combination_weights >= 0)
    assert weights["V1"] > 0.5 and weights["V2"] < 0.2 * weights["V1"]
    averaged = {roi: train.averaged_fmri(roi) for roi in ("V1", "V2")}
    pred = decoder.predict(averaged)
    assert np.corrcoef(pred.ravel(), targets.ravel())[0, 1] > 0.8
    # The stored form predicts exactly like the fitted one.
    again = _shape.ShapeDecoder.from_arrays(decoder.to_arrays(), decoder.rois)
    np.testing.assert_allclose(again.predict(averaged), pred)


def test_single_roi_decoder_equals_ridge_decoder():
    train, targets = _synthetic_train()
    decoder = _shape.ShapeDecoder.fit(train, targets, ("V1",))
    reference = fit_ridge_decoder(train, "V1", targets, samples="trials")
    x = train.averaged_fmri("V1")
    np.testing.assert_allclose(decoder.predict({"V1": x}), reference.predict(x), rtol=1e-5, atol=1e-5)
    assert decoder.combination_weights.tolist() == [1.0]


def test_linear_map_folds_target_pca():
    train, targets = _synthetic_train()
    reference = fit_ridge_decoder(train, "V1", targets, samples="averaged", target_pca=5)
    folded = _shape.LinearMap.from_ridge(reference)
    x = train.averaged_fmri("V1")
    np.testing.assert_allclose(folded.predict(x), reference.predict(x), rtol=1e-4, atol=1e-5)


def test_missing_roi_is_named():
    train, targets = _synthetic_train()
    with pytest.raises(ReconbenchError, match="V3"):
        _shape.ShapeDecoder.fit(train, targets, ("V1", "V3"))


def test_subset_train_keeps_trials_of_kept_images():
    train, _ = _synthetic_train()
    keep = np.arange(60) % 3 != 0
    sub = _shape.subset_train(train, keep)
    assert sub.images.shape[0] == keep.sum()
    np.testing.assert_array_equal(sub.stimulus_ids, train.stimulus_ids[keep])
    np.testing.assert_allclose(sub.averaged_fmri("V1"), train.averaged_fmri("V1")[keep], rtol=1e-6)
    np.testing.assert_array_equal(sub.validation_mask, train.validation_mask[keep])
