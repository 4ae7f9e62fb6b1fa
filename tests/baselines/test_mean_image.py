"""mean_image: the pixel-wise mean training image, whatever the fMRI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reconbench.baselines.mean_image import MeanImage
from reconbench.core.method import NotFittedError
from tests.baselines._synthetic import make_problem
from tests.data.bdata_files import NO_BDPY


def test_mean_image_is_numpy_mean_for_every_input():
    train, test, *_ = make_problem()
    with pytest.raises(NotFittedError):
        MeanImage().reconstruct(test)
    method = MeanImage()
    assert method.fit(train) is method
    out = method.reconstruct(test)
    assert out.shape == (len(test.stimulus_ids),) + train.images.shape[1:] and out.dtype == np.float32
    np.testing.assert_allclose(out, np.broadcast_to(train.images.mean(axis=0), out.shape), atol=1e-6)
    # independent of the responses
    shuffled = dataclasses.replace(test, fmri={k: v[::-1] * 3 for k, v in test.fmri.items()})
    np.testing.assert_array_equal(method.reconstruct(shuffled), out)


def test_mean_image_scores_chance_pairwise_identification():
    pairwise_identification = pytest.importorskip("bdpy.evals.metrics", reason=NO_BDPY).pairwise_identification

    train, test, test_images, *_ = make_problem()
    out = MeanImage().fit(train).reconstruct(test)
    # All reconstructions are identical, so image i's accuracy is the rank of r(mean, true_i)
    # among the test images, and the ranks 0..M-1 average to exactly chance.
    accuracy = pairwise_identification(out.reshape(len(out), -1), test_images.reshape(len(out), -1))
    assert accuracy.mean() == pytest.approx(0.5)
