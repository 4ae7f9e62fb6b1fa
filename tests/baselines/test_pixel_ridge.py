"""pixel_ridge against a scikit-learn Ridge pipeline, and its decoding quality."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from reconbench.baselines.pixel_ridge import PixelRidge
from reconbench.core.images import resize
from reconbench.core.method import NotFittedError
from tests.baselines._synthetic import make_problem
from tests.data.bdata_files import NO_BDPY


def test_pixel_ridge_matches_sklearn_ridge_pipeline():
    train, test, *_ = make_problem()
    method = PixelRidge(roi="LVC", resolution=8, alphas=[5.0]).fit(train)
    out = method.reconstruct(test)
    small = resize(train.images, 8).reshape(train.images.shape[0], -1)
    ridge = Ridge(alpha=5.0).fit(train.fmri["LVC"].astype(np.float64), small[train.trial_image_index].astype(np.float64))
    decoded = np.clip(ridge.predict(test.fmri["LVC"].astype(np.float64)), 0, 1).reshape(-1, 3, 8, 8)
    expected = resize(decoded.astype(np.float32), train.images.shape[-1])
    assert out.shape == (len(test.stimulus_ids), 3, 32, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=2e-4)


@pytest.mark.parametrize("params", [{}, {"target_pca": 0.99}, {"resolution": None, "samples": "averaged"}])
def test_pixel_ridge_identifies_test_images(params):
    pairwise_identification = pytest.importorskip("bdpy.evals.metrics", reason=NO_BDPY).pairwise_identification

    train, test, test_images, *_ = make_problem(noise=0.2)
    method = PixelRidge(roi="LVC", **params)
    with pytest.raises(NotFittedError):
        method.reconstruct(test)
    out = method.fit(train).reconstruct(test)
    assert out.min() >= 0 and out.max() <= 1 and np.isfinite(out).all()
    # the responses are linear in 8x8 pixels, so the decoded images identify their stimuli
    accuracy = pairwise_identification(out.reshape(len(out), -1), test_images.reshape(len(out), -1))
    assert accuracy.mean() > 0.8
    assert method.decoder_.alpha_at_edge_fraction_ is not None
