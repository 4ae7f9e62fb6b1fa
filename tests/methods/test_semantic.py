"""Tests of the semantic stage: PCA space, K-means and the cluster-probability decoder."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from reconbench.core.errors import ReconbenchError
from reconbench.methods import _semantic


def test_semantic_space_matches_sklearn_pca():
    rng = np.random.default_rng(0)
    features = (rng.standard_normal((80, 30)) @ rng.standard_normal((30, 30)) + 5).astype(np.float32)
    space = _semantic.SemanticSpace.fit(features, n_components=6)
    ours = space.transform(features) * space.score_scale
    reference = PCA(n_components=6, svd_solver="full").fit_transform(StandardScaler().fit_transform(features))
    for k in range(6):
        # Components are unique up to sign.
        assert min(np.abs(ours[:, k] - reference[:, k]).max(), np.abs(ours[:, k] + reference[:, k]).max()) < 1e-3
    # First component has unit scale after dividing by score_scale.
    np.testing.assert_allclose(space.transform(features)[:, 0].std(), 1.0, rtol=1e-4)
    again = _semantic.SemanticSpace.from_arrays(space.to_arrays())
    np.testing.assert_array_equal(again.transform(features), space.transform(features))


def test_semantic_space_is_fitted_on_what_it_is_given_only():
    rng = np.random.default_rng(1)
    train = rng.standard_normal((50, 10))
    other = rng.standard_normal((20, 10)) * 10
    a = _semantic.SemanticSpace.fit(train, 4)
    # Transforming other data never changes the fitted space.
    a.transform(other)
    b = _semantic.SemanticSpace.fit(train, 4)
    np.testing.assert_array_equal(a.components, b.components)


def test_fit_kmeans_equals_sklearn():
    rng = np.random.default_rng(2)
    vectors = np.concatenate([rng.standard_normal((30, 4)) + 6 * k for k in range(3)])
    centroids, labels = _semantic.fit_kmeans(vectors, 3, random_state=0)
    reference = KMeans(n_clusters=3, n_init=10, random_state=0).fit(vectors)
    np.testing.assert_allclose(centroids, reference.cluster_centers_, rtol=1e-5)
    np.testing.assert_array_equal(labels, reference.labels_)
    with pytest.raises(ReconbenchError, match="n_clusters"):
        _semantic.fit_kmeans(vectors, 200, random_state=0)


def _clustered_responses(seed=0, n_per=20, k=4, v=30):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per)
    prototypes = rng.standard_normal((k, v)) * 2
    x = prototypes[labels] + rng.standard_normal((labels.size, v)) * 3
    mask = np.zeros(labels.size, bool)
    mask[::4] = True
    centroids = rng.standard_normal((k, 5)).astype(np.float32)
    return x, labels, centroids, mask


def test_cluster_decoder_equals_sklearn_logistic_regression():
    x, labels, centroids, mask = _clustered_responses()
    decoder = _semantic.ClusterDecoder.fit(x, labels, centroids, mask, c_values=(0.05,))
    z = StandardScaler().fit_transform(x)
    reference = LogisticRegression(C=0.05, max_iter=300).fit(z, labels)
    np.testing.assert_allclose(decoder.predict_proba(x), reference.predict_proba(z), atol=1e-5)
    np.testing.assert_allclose(decoder.predict(x), reference.predict_proba(z) @ centroids, atol=1e-4)


def test_cluster_decoder_gives_absent_cluster_zero_probability():
    x, labels, centroids, mask = _clustered_responses()
    labels = np.where(labels == 3, 0, labels)  # cluster 3 has no training image
    decoder = _semantic.ClusterDecoder.fit(x, labels, centroids, mask)
    proba = decoder.predict_proba(x)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert proba[:, 3].max() < 1e-6
    again = _semantic.ClusterDecoder.from_arrays(decoder.to_arrays())
    np.testing.assert_array_equal(again.predict(x), decoder.predict(x))


def test_cluster_decoder_two_clusters():
    x, labels, centroids, mask = _clustered_responses(k=2)
    decoder = _semantic.ClusterDecoder.fit(x, labels, centroids, mask, c_values=(0.1,))
    z = StandardScaler().fit_transform(x)
    reference = LogisticRegression(C=0.1, max_iter=300).fit(z, labels)
    np.testing.assert_allclose(decoder.predict_proba(x), reference.predict_proba(z), atol=1e-5)


@pytest.mark.weights
def test_pooled_features_shape(weights_cache):
    images = np.random.default_rng(0).random((3, 3, 64, 64)).astype(np.float32)
    features = _semantic.pooled_features(images, net="alexnet", layer="conv5", pool=2)
    assert features.shape == (3, 256 * 4) and features.dtype == np.float32
    assert np.all(np.isfinite(features))
