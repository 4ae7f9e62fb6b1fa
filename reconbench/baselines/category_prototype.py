"""Category baseline: decode a K-means cluster from HVC, return its mean training image."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reconbench.core.method import Method
from reconbench.core.types import TestInput, TrainData
from reconbench.decoders.features import feature_vectors
from reconbench.decoders.ridge import DEFAULT_ALPHAS, fit_ridge_decoder


class CategoryPrototype(Method):
    """What category information alone scores on each metric.

    1. Pretrained features of the TRAINING images (AlexNet conv5, globally
       average-pooled by default: what is in the image, not where) are
       standardised with training statistics and clustered by K-means
       (``n_clusters``, seeded by ``random_state``). Test images are never
       clustered or seen.
    2. A ridge classifier (one-hot cluster targets, prediction = arg max:
       scikit-learn's ``RidgeClassifier`` rule; one shared alpha chosen by
       validation-fold accuracy) maps ``roi`` responses to a cluster.
    3. The reconstruction of a test input is the mean training image of the
       predicted cluster (its prototype).

    Parameters
    ----------
    roi : str, default "HVC"
    n_clusters : int, default 20
    net, layer : str, default "alexnet", "conv5"
    pool : int or None, default 1
        Pooling of the activation grid before clustering (1 = global average).
    samples : {"trials", "averaged"}, default "trials"
    alphas : sequence of float, default ``DEFAULT_ALPHAS``
    random_state : int, default 0
        Seed of K-means (the harness sets it per seed).
    device : str, default "cpu"
        The run's device (the harness passes it): the ridge solve runs there.

    Attributes
    ----------
    cluster_labels_ : ndarray, shape (S,), int
        Cluster of each training image.
    cluster_centers_ : ndarray, shape (n_clusters, F)
        Centroids in the standardised feature space.
    prototypes_ : ndarray, shape (n_clusters, 3, H, W), float32
        Mean training image of each cluster.
    classifier_ : RidgeDecoder
        One-hot cluster decoder.
    """

    name = "category_prototype"
    parameter_sets = {"default": {}}
    citation = (
        "Category-level reconstruction as a control: cf. the K-means semantic enhancement of "
        "Fang, Qi & Pan (2020), NeurIPS; category decoding from HVC, Horikawa & Kamitani (2017)"
    )
    requires = ("weights:alexnet",)

    def __init__(
        self,
        roi: str = "HVC",
        n_clusters: int = 20,
        net: str = "alexnet",
        layer: str = "conv5",
        pool: int | None = 1,
        samples: str = "trials",
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        random_state: int = 0,
        device: str = "cpu",
    ) -> None:
        self.roi = roi
        self.n_clusters = n_clusters
        self.net = net
        self.layer = layer
        self.pool = pool
        self.samples = samples
        self.alphas = alphas
        self.random_state = random_state
        self.device = device

    def fit(self, train: TrainData) -> "CategoryPrototype":
        """Cluster the training images, fit the cluster classifier; returns ``self``."""
        from sklearn.cluster import KMeans

        images = np.asarray(train.images, dtype=np.float32)
        n_images = images.shape[0]
        if not 2 <= int(self.n_clusters) <= n_images:
            raise ValueError(f"n_clusters must be in [2, {n_images}] (the number of training images), got {self.n_clusters}")
        features = feature_vectors(images, net=self.net, layer=self.layer, pool=self.pool).astype(np.float64)
        scale = features.std(axis=0)
        standardised = (features - features.mean(axis=0)) / np.where(scale > 1e-12, scale, 1.0)
        kmeans = KMeans(n_clusters=int(self.n_clusters), n_init=10, random_state=self.random_state)
        labels = kmeans.fit_predict(standardised)
        self.cluster_labels_ = labels.astype(np.int64)
        self.cluster_centers_ = kmeans.cluster_centers_.astype(np.float32)
        self.prototypes_ = np.stack([images[labels == k].mean(axis=0) for k in range(int(self.n_clusters))]).astype(np.float32)
        onehot = np.zeros((n_images, int(self.n_clusters)), dtype=np.float32)
        onehot[np.arange(n_images), labels] = 1.0
        self.classifier_ = fit_ridge_decoder(
            train,
            self.roi,
            onehot,
            samples=self.samples,
            alphas=self.alphas,
            alpha_per_target=False,
            scoring="argmax_accuracy",
            device=self.device,
        )
        return self

    def predict_cluster(self, test: TestInput) -> np.ndarray:
        """Return the predicted cluster of each test input, shape (M,), int."""
        self.check_is_fitted("classifier_", "prototypes_")
        scores = self.classifier_.predict(np.asarray(test.fmri[self.roi], dtype=np.float32))
        return np.argmax(scores, axis=1)

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Return the prototype of each predicted cluster, shape (M, 3, H, W), float32 in [0, 1]."""
        self.check_is_fitted("classifier_", "prototypes_")
        return np.clip(self.prototypes_[self.predict_cluster(test)], 0.0, 1.0)
