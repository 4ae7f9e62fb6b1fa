"""nearest_neighbor: decoded AlexNet features, retrieval by correlation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from reconbench.baselines.nearest_neighbor import NearestNeighbor
from reconbench.core import types as bench_types
from reconbench.core.method import NotFittedError
from tests.baselines._synthetic import make_problem

pytestmark = pytest.mark.weights


def test_retrieval_matches_independent_reference(weights_cache):
    """Same answer as: torch-pooled image_features -> sklearn Ridge -> numpy corrcoef -> argmax."""
    import torch
    import torch.nn.functional as F

    from reconbench.metrics.features import image_features

    train, test, *_ = make_problem()
    method = NearestNeighbor(roi="VC", pool=2, target_pca=None, alphas=[10.0])
    with pytest.raises(NotFittedError):
        method.reconstruct(test)
    out = method.fit(train).reconstruct(test)

    raw = image_features(train.images, net="alexnet", layer="conv5")  # 32 px images reach conv5 (min 31)
    features = F.adaptive_avg_pool2d(torch.from_numpy(raw), 2).reshape(len(raw), -1).numpy().astype(np.float64)
    ridge = Ridge(alpha=10.0).fit(train.fmri["VC"].astype(np.float64), features[train.trial_image_index])
    decoded = ridge.predict(test.fmri["VC"].astype(np.float64))
    correlation = np.corrcoef(decoded, features)[: len(decoded), len(decoded) :]
    expected = np.argmax(correlation, axis=1)
    np.testing.assert_array_equal(method.retrieve(test), expected)
    np.testing.assert_array_equal(out, train.images[expected])


def test_retrieves_the_training_image_whose_responses_it_is_given(weights_cache):
    # 64-pixel images: conv5 keeps a 3x3 grid, so the features know where the bright square is
    # (at 32 pixels conv5 is 1x1 and position-blind).
    train, _, _, _, categories = make_problem(noise=0.1, size=64)
    # Test inputs = the averaged responses of 12 training images: retrieval should find them.
    rows = np.arange(0, train.images.shape[0], 3)
    fmri = {roi: train.averaged_fmri(roi)[rows] for roi in train.fmri}
    test = bench_types.TestInput(name="natural", fmri=fmri, stimulus_ids=train.stimulus_ids[rows])
    method = NearestNeighbor().fit(train)
    retrieved = method.retrieve(test)
    # category always right (chance 1/3); the exact image most of the time (chance 1/36)
    assert np.all(categories[retrieved] == categories[rows])
    assert np.mean(retrieved == rows) >= 0.5
    out = method.reconstruct(test)
    assert out.dtype == np.float32 and out.shape == (rows.size, 3, 64, 64)
    np.testing.assert_array_equal(out, train.images[retrieved])
