"""Pairwise identification against bdpy; two-way identification against MindEye's formula."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from reconbench.metrics.identification import (
    correlation_matrix,
    identification_from_similarity,
    pairwise_identification,
    two_way_identification,
)
from reconbench.metrics.inputs import MetricInputError
from tests.data.bdata_files import NO_BDPY


def noisy_pairs(n: int = 40, size: int = 6, signal: float = 0.15, seed: int = 0, dtype=np.float64):
    """Reconstructions that are ``signal`` parts truth and the rest uniform noise."""
    rng = np.random.default_rng(seed)
    true = rng.random((n, 3, size, size)).astype(dtype)
    pred = (signal * true + (1.0 - signal) * rng.random(true.shape)).astype(dtype)
    return pred, true


def bdpy_reference(pred: np.ndarray, true: np.ndarray, metric: str) -> np.ndarray:
    """bdpy's pairwise identification, the independent reference (the test skips where bdpy is not installed)."""
    bdpy_metrics = pytest.importorskip("bdpy.evals.metrics", reason=NO_BDPY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bdpy warns about NaN distances it removes
        return bdpy_metrics.pairwise_identification(pred, true, metric=metric)


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pairwise_identification_equals_bdpy(metric: str, dtype) -> None:
    pred, true = noisy_pairs(dtype=dtype)
    ours = pairwise_identification(pred, true, metric=metric)
    reference = bdpy_reference(pred, true, metric)
    # The noise level keeps scores away from 1 so the comparison is informative.
    assert 0.3 < ours.mean() < 0.99
    np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
def test_pairwise_identification_ties_equal_bdpy(metric: str) -> None:
    pred, true = noisy_pairs(n=25, signal=0.15, seed=3)
    # Duplicate true images make exact ties: bdpy counts them as failures.
    true[5] = true[3]
    true[7] = true[3]
    true[20] = true[11]
    pred[10] = true[3]
    ours = pairwise_identification(pred, true, metric=metric)
    reference = bdpy_reference(pred, true, metric)
    np.testing.assert_array_equal(ours, reference)
    # Reconstruction 3 can beat at most the 22 images that are not copies of true[3].
    assert ours[3] <= 22 / 24


def test_all_identical_true_images_score_zero() -> None:
    pred, true = noisy_pairs(n=6)
    true[:] = true[0]
    np.testing.assert_array_equal(pairwise_identification(pred, true), np.zeros(6))
    np.testing.assert_array_equal(pairwise_identification(pred, true), bdpy_reference(pred, true, "correlation"))


def test_constant_images_follow_bdpy_nan_handling() -> None:
    pred, true = noisy_pairs(n=10)
    true[4] = 0.5  # correlation with a constant image is undefined (NaN): bdpy drops it
    pred[2] = 0.25  # a constant reconstruction: all its correlations are NaN, bdpy scores 0
    ours = pairwise_identification(pred, true)
    np.testing.assert_array_equal(ours, bdpy_reference(pred, true, "correlation"))
    assert ours[2] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inputs_are_not_modified(dtype) -> None:
    pred, true = noisy_pairs(n=10, dtype=dtype)
    pred_copy, true_copy = pred.copy(), true.copy()
    for metric in ("correlation", "euclidean"):
        pairwise_identification(pred, true, metric=metric)
    np.testing.assert_array_equal(pred, pred_copy)
    np.testing.assert_array_equal(true, true_copy)


def test_pairwise_identification_accepts_torch_and_matches_numpy() -> None:
    pred, true = noisy_pairs(n=15, dtype=np.float32)
    np.testing.assert_array_equal(pairwise_identification(torch.from_numpy(pred), torch.from_numpy(true)), pairwise_identification(pred, true))


def test_pairwise_identification_blocks_give_same_result(monkeypatch) -> None:
    # Force many small blocks; the result must not depend on the blocking.
    import reconbench.metrics.identification as identification

    pred, true = noisy_pairs(n=30)
    whole = pairwise_identification(pred, true)
    monkeypatch.setattr(identification, "_A_BLOCK_BYTES", 8 * pred[0].size * 7)
    monkeypatch.setattr(identification, "_B_BLOCK_BYTES", 8 * pred[0].size * 4)
    np.testing.assert_array_equal(pairwise_identification(pred, true), whole)
    np.testing.assert_array_equal(whole, bdpy_reference(pred, true, "correlation"))


def test_correlation_matrix_equals_numpy_corrcoef() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random((7, 50)), rng.random((9, 50))
    np.testing.assert_allclose(correlation_matrix(a, b), np.corrcoef(a, b)[:7, 7:], rtol=0, atol=1e-12)


def test_identification_from_similarity_known_matrix() -> None:
    similarity = np.array([[0.9, 0.1, 0.9], [0.5, 0.2, 0.1], [0.3, 0.4, 0.35]])
    # row 0: 0.1 < 0.9 wins, 0.9 ties (fails) -> 1/2; row 1: 0.1 < 0.2 -> 1/2; row 2: 0.3 < 0.35 -> 1/2
    np.testing.assert_array_equal(identification_from_similarity(similarity), [0.5, 0.5, 0.5])


@pytest.mark.parametrize(
    "pred, true, message",
    [
        (np.zeros((4, 3, 8, 8)), np.zeros((4, 3, 8, 9)), "same shape"),
        (np.zeros((4, 1, 8, 8)), np.zeros((4, 1, 8, 8)), "(N, 3, H, W)"),
        (np.full((4, 3, 8, 8), 1.5), np.zeros((4, 3, 8, 8)), "[0, 1]"),
        (np.zeros((4, 3, 8, 8), dtype=np.uint8), np.zeros((4, 3, 8, 8)), "float"),
        (np.zeros((1, 3, 8, 8)), np.zeros((1, 3, 8, 8)), "at least 2"),
        (np.full((2, 3, 8, 8), np.nan), np.zeros((2, 3, 8, 8)), "NaN"),
    ],
)
def test_bad_inputs_name_the_expectation(pred, true, message) -> None:
    with pytest.raises(MetricInputError, match=re.escape(message)):
        pairwise_identification(pred, true)


def test_unknown_metric_lists_valid_ones() -> None:
    pred, true = noisy_pairs(n=3)
    with pytest.raises(MetricInputError, match="correlation, euclidean"):
        pairwise_identification(pred, true, metric="cosine")


def mindeye_two_way(pred_features: np.ndarray, true_features: np.ndarray) -> np.ndarray:
    """MindEye's two_way_identification (per-image counts), written from its published formula."""
    n = len(true_features)
    r = np.corrcoef(true_features.reshape(n, -1), pred_features.reshape(n, -1))[:n, n:]  # rows true, cols pred
    congruent = np.diag(r)
    return np.sum(r < congruent, axis=0) / (n - 1)


@pytest.mark.weights
@pytest.mark.parametrize("layer, alexnet_layer", [("alexnet2", "conv2"), ("alexnet5", "conv5")])
def test_two_way_identification_matches_mindeye_formula(weights_cache, layer: str, alexnet_layer: str) -> None:
    from reconbench.metrics.features import image_features

    pred, true = noisy_pairs(n=10, size=48, signal=0.03, seed=7, dtype=np.float32)
    ours = two_way_identification(pred, true, layer=layer, cache=weights_cache)
    reference = mindeye_two_way(
        image_features(pred, "alexnet", alexnet_layer, cache=weights_cache),
        image_features(true, "alexnet", alexnet_layer, cache=weights_cache),
    )
    np.testing.assert_array_equal(ours, reference)
    assert ours.shape == (10,) and 0.2 < ours.mean() < 0.95
    # Perfect reconstructions are always identified.
    np.testing.assert_array_equal(two_way_identification(true, true, layer=layer, cache=weights_cache), np.ones(10))


@pytest.mark.weights
def test_two_way_identification_unknown_layer(weights_cache) -> None:
    pred, true = noisy_pairs(n=3, size=64)
    with pytest.raises(MetricInputError, match="alexnet2, alexnet5"):
        two_way_identification(pred, true, layer="alexnet3", cache=weights_cache)
