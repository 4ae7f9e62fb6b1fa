"""The input checks every metric shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reconbench.metrics.inputs import MetricInputError, as_image_batch, as_image_pair


def test_valid_batches_pass_unchanged() -> None:
    images = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    assert as_image_batch(images) is images
    np.testing.assert_array_equal(as_image_batch(torch.from_numpy(images)), images)


@pytest.mark.parametrize(
    "bad, message",
    [
        ([[0.5]], "numpy array or torch tensor"),
        (np.zeros((2, 3, 4, 4), dtype=np.uint8), "float images"),
        (np.zeros((3, 4, 4), dtype=np.float32), r"\(N, 3, H, W\)"),
        (np.full((1, 3, 4, 4), 1.5, dtype=np.float32), r"\[0, 1\]"),
        (np.full((1, 3, 4, 4), np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_bad_batches_name_what_was_expected(bad, message) -> None:
    with pytest.raises(MetricInputError, match=message):
        as_image_batch(bad, "pred")


def test_pairs_must_match() -> None:
    a = np.zeros((2, 3, 4, 4), dtype=np.float32)
    with pytest.raises(MetricInputError):
        as_image_pair(a, np.zeros((3, 3, 4, 4), dtype=np.float32))
    with pytest.raises(MetricInputError):
        as_image_pair(a[:1], a[:1], min_images=2)
    pred, true = as_image_pair(a, a.copy())
    assert pred.shape == true.shape == (2, 3, 4, 4)
