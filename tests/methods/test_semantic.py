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


def test_category_labels_are_the_synsets_of_imagenet_ids():
    labels, categories = _semantic.category_labels(["n02_7", "n01_3", "n02_1", "n01_9"])
    assert categories == ["n01", "n02"] and labels.tolist() == [1, 0, 1, 0]
    with pytest.raises(ReconbenchError, match="stimulus id 'Letter_A' is not of the form n<synset>_<number>"):
        _semantic.category_labels(["n01_3", "Letter_A"])


def test_mlp_classifier_learns_what_a_linear_classifier_learns_and_is_seeded():
    x, labels, _, mask = _clustered_responses(n_per=60, k=4, v=30)
    mlp = _semantic.MLPClassifier.fit(x, labels, mask, n_classes=4, hidden=64, semantic_dim=8, seed=0)
    again = _semantic.MLPClassifier.fit(x, labels, mask, n_classes=4, hidden=64, semantic_dim=8, seed=0)
    for name, array in mlp.to_arrays().items():
        np.testing.assert_array_equal(array, again.to_arrays()[name])
    # Held-out accuracy of the MLP against scikit-learn's logistic regression on the same split (independent reference).
    rng = np.random.default_rng(9)
    test_labels = np.repeat(np.arange(4), 30)
    prototypes = np.random.default_rng(0).standard_normal((4, 30)) * 2  # the same prototypes as _clustered_responses(seed=0)
    x_test = prototypes[test_labels] + rng.standard_normal((test_labels.size, 30)) * 3
    scaler = StandardScaler().fit(x[~mask])
    reference = LogisticRegression(C=1.0, max_iter=500).fit(scaler.transform(x[~mask]), labels[~mask])
    reference_accuracy = (reference.predict(scaler.transform(x_test)) == test_labels).mean()
    accuracy = (mlp.predict_proba(x_test).argmax(1) == test_labels).mean()
    assert accuracy >= reference_accuracy - 0.1 and accuracy > 0.8
    hidden = mlp.hidden(x_test)
    assert hidden.shape == (120, 8) and np.abs(hidden).max() <= 1.0
    np.testing.assert_allclose(mlp.predict_proba(x_test).sum(1), 1.0, atol=1e-5)
    restored = _semantic.MLPClassifier.from_arrays(mlp.to_arrays())
    np.testing.assert_array_equal(restored.hidden(x_test), hidden)


@pytest.mark.cuda
def test_mlp_classifier_on_cuda_repeats_exactly_and_learns_as_on_the_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    x, labels, _, mask = _clustered_responses(n_per=60, k=4, v=30)
    fits = [_semantic.MLPClassifier.fit(x, labels, mask, n_classes=4, hidden=64, semantic_dim=8, seed=0, device="cuda") for _ in range(2)]
    for name, array in fits[0].to_arrays().items():
        np.testing.assert_array_equal(array, fits[1].to_arrays()[name])
    on_cpu = _semantic.MLPClassifier.fit(x, labels, mask, n_classes=4, hidden=64, semantic_dim=8, seed=0)
    rng = np.random.default_rng(9)
    test_labels = np.repeat(np.arange(4), 30)
    x_test = np.random.default_rng(0).standard_normal((4, 30))[test_labels] * 2 + rng.standard_normal((120, 30)) * 3
    accuracy = {name: (fit.predict_proba(x_test).argmax(1) == test_labels).mean() for name, fit in (("cuda", fits[0]), ("cpu", on_cpu))}
    assert abs(accuracy["cuda"] - accuracy["cpu"]) <= 0.05 and accuracy["cuda"] > 0.8, accuracy


def test_mlp_classifier_needs_a_validation_fold():
    x, labels, _, mask = _clustered_responses()
    with pytest.raises(ReconbenchError, match="inside and outside the validation fold"):
        _semantic.MLPClassifier.fit(x, labels, np.zeros_like(mask), n_classes=4)
