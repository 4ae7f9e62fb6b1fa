"""Tests of the K-means variant, above all that no test data reaches the clustering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.cluster import KMeans

from reconbench.methods import _semantic
from reconbench.methods.divide_and_conquer_kmeans import DivideAndConquerKMeans

pytestmark = pytest.mark.weights


class RecordingKMeans(KMeans):
    """scikit-learn's KMeans that records every array it is fitted on."""

    calls: list[np.ndarray] = []

    def fit(self, X, y=None, sample_weight=None):
        RecordingKMeans.calls.append(np.array(X, copy=True))
        return super().fit(X, y=y, sample_weight=sample_weight)


@pytest.fixture(scope="module")
def recorded(tiny_split, weights_cache, stage_cache_dir):
    RecordingKMeans.calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_semantic, "KMeans", RecordingKMeans)
        method = DivideAndConquerKMeans(n_clusters=5, random_state=0).fit(tiny_split.train)
        calls_after_fit = len(RecordingKMeans.calls)
        outputs = {name: method.reconstruct(test) for name, test in tiny_split.test_inputs.items()}
    return method, list(RecordingKMeans.calls), calls_after_fit, outputs


def test_kmeans_sees_training_images_only(recorded, tiny_split):
    method, calls, calls_after_fit, _ = recorded
    # One clustering, during fit; reconstructing never clusters again.
    assert calls_after_fit == 1 and len(calls) == 1
    clustered = calls[0]
    train = tiny_split.train
    # Exactly the training images' semantic vectors, one row per training image.
    assert clustered.shape[0] == train.images.shape[0]
    np.testing.assert_allclose(clustered, method.train_semantic_vectors_, rtol=1e-6, atol=1e-6)
    # And none of the test images' vectors (computed here, by the test, from the held-out images).
    for name, (_, images) in tiny_split.test_images.items():
        test_vectors = method.semantic_space_.transform(method._image_features(images))
        distance = ((test_vectors[:, None, :] - clustered[None]) ** 2).sum(-1)
        assert distance.min() > 1e-6, name
    # No test fMRI either: the clustered array has the semantic dimension, not a voxel count.
    assert clustered.shape[1] == method.semantic_space_.components.shape[0]


def test_centroids_do_not_depend_on_test_data(recorded, tiny_split, stage_cache_dir):
    method, _, _, outputs = recorded
    centroids = method.centroids_.copy()
    # Scrambled test inputs change the reconstructions, not the fitted clustering.
    rng = np.random.default_rng(0)
    test = tiny_split.test_inputs["natural"]
    scrambled = dataclasses.replace(test, fmri={k: rng.standard_normal(v.shape).astype(np.float32) for k, v in test.fmri.items()})
    method.reconstruct(scrambled)
    np.testing.assert_array_equal(method.centroids_, centroids)
    # A refit on the same training data gives the same clustering.
    again = DivideAndConquerKMeans(n_clusters=5, random_state=0).fit(tiny_split.train)
    np.testing.assert_array_equal(again.centroids_, centroids)
    np.testing.assert_array_equal(again.reconstruct(test), outputs["natural"])


def test_semantic_vector_is_probability_weighted_centroid(recorded, tiny_split):
    method, _, _, outputs = recorded
    test = tiny_split.test_inputs["natural"]
    proba = method.semantic_decoder_.predict_proba(test.fmri["HVC"])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    _, semantic = method.decode(test)
    np.testing.assert_allclose(semantic, proba @ method.centroids_, rtol=1e-5, atol=1e-6)
    # The generator was trained on each training image's own-cluster centroid.
    trained_on = method._generator_semantics(method.train_semantic_vectors_)
    np.testing.assert_array_equal(trained_on, method.centroids_[method.train_cluster_labels_])
    assert outputs["natural"].shape[0] == len(test.stimulus_ids)


def test_kmeans_shares_decoders_with_divide_and_conquer(tiny_split, stage_cache_dir, recorded):
    from reconbench.methods.divide_and_conquer import DivideAndConquer

    base = DivideAndConquer(random_state=0).fit(tiny_split.train)
    stages = {entry["stage"]: entry["cache_hit"] for entry in base.stage_log_}
    # Shape decoder and image features were computed by the K-means fit.
    assert stages["shape_decoder"] and stages["image_features"]
    assert not stages["semantic_decoder"] and not stages["generator"]


def test_seed_recipe_uses_an_mlp_cluster_classifier(tiny_split, stage_cache_dir):
    params = DivideAndConquerKMeans.parameter_sets["mlp"]
    method = DivideAndConquerKMeans(n_clusters=5, random_state=0, generator_inputs="mixed", decoded_folds=2, **params).fit(tiny_split.train)
    assert isinstance(method.semantic_decoder_, _semantic.MLPClusterDecoder)
    test = tiny_split.test_inputs["natural"]
    semantic = method.stage_outputs(test)["semantic"]
    proba = method.semantic_decoder_.classifier.predict_proba(test.fmri["HVC"])
    # The semantic vector is the probability-weighted centroid of the MLP's cluster probabilities.
    np.testing.assert_allclose(semantic, proba @ method.centroids_, atol=1e-5)
    assert method.reconstruct(test).shape[0] == len(test.stimulus_ids)
    with pytest.raises(Exception, match="cluster_classifier='svm'"):
        DivideAndConquerKMeans(cluster_classifier="svm").fit(tiny_split.train)
