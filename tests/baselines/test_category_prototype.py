"""category_prototype: K-means on training features, ridge classifier from HVC, cluster means."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import adjusted_rand_score

from reconbench.baselines.category_prototype import CategoryPrototype
from reconbench.core.method import NotFittedError
from tests.baselines._synthetic import make_problem

pytestmark = pytest.mark.weights


def test_clusters_categories_and_decodes_them(weights_cache):
    train, test, test_images, test_categories, train_categories = make_problem(noise=0.5)
    method = CategoryPrototype(n_clusters=3, random_state=0)
    with pytest.raises(NotFittedError):
        method.reconstruct(test)
    method.fit(train)
    # The three colour categories are recovered from training-image features alone.
    assert adjusted_rand_score(train_categories, method.cluster_labels_) == pytest.approx(1.0)
    # Prototypes are the cluster means of the training images.
    for k in range(3):
        np.testing.assert_allclose(method.prototypes_[k], train.images[method.cluster_labels_ == k].mean(0), atol=1e-6)
    # The category is decoded from HVC for every test input.
    cluster_of_category = {c: method.cluster_labels_[train_categories == c][0] for c in range(3)}
    predicted = method.predict_cluster(test)
    np.testing.assert_array_equal(predicted, [cluster_of_category[c] for c in test_categories])
    out = method.reconstruct(test)
    assert out.shape == test_images.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, method.prototypes_[predicted])


def test_classifier_matches_sklearn_ridge_classifier(weights_cache):
    train, test, *_ = make_problem(noise=2.0, seed=3)
    method = CategoryPrototype(n_clusters=4, alphas=[30.0], random_state=1).fit(train)
    reference = RidgeClassifier(alpha=30.0).fit(train.fmri["HVC"].astype(np.float64), method.cluster_labels_[train.trial_image_index])
    np.testing.assert_array_equal(method.predict_cluster(test), reference.predict(test.fmri["HVC"].astype(np.float64)))


def test_seed_changes_only_through_random_state(weights_cache):
    train, test, *_ = make_problem(n_per_category=10, n_categories=5)
    first = CategoryPrototype(n_clusters=8, random_state=4).fit(train).reconstruct(test)
    again = CategoryPrototype(n_clusters=8, random_state=4).fit(train).reconstruct(test)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="n_clusters"):
        CategoryPrototype(n_clusters=1000).fit(train)
