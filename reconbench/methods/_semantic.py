"""Semantic stage of divide-and-conquer: feature targets, their decoder and K-means clusters.

The semantic vector of an image is a PCA-reduced, pooled convolutional feature
map of a pretrained network (AlexNet or VGG16 conv features from
``reconbench.metrics.features``). Pooling, standardisation and PCA are fitted on
training images only. The vector is decoded from HVC by ridge
(:func:`reconbench.methods._shape.fit_roi_decoder`), or, in the K-means variant,
training vectors are clustered (K-means on training images only), a multinomial
logistic classifier predicts cluster probabilities from HVC, and the semantic
vector is the probability-weighted centroid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from reconbench.core.errors import ReconbenchError
from reconbench.decoders.features import feature_vectors


def pooled_features(images: np.ndarray, net: str = "alexnet", layer: str = "conv5", pool: int = 2, batch_size: int = 64) -> np.ndarray:
    """Pretrained features of each image, average-pooled to a ``pool x pool`` grid.

    Parameters
    ----------
    images : ndarray, shape (N, 3, H, W), float in [0, 1]
    net, layer : str
        Passed to :func:`reconbench.metrics.features.image_features` (through
        :func:`reconbench.decoders.features.feature_vectors`).
    pool : int
        Side of the pooled grid (1 = global average pooling).

    Returns
    -------
    ndarray, shape (N, C * pool * pool), float32
    """

    # Images smaller than the network's minimum input are enlarged with the pinned resize there.
    return feature_vectors(np.asarray(images, dtype=np.float32), net=net, layer=layer, pool=int(pool), batch_size=batch_size)


@dataclass
class SemanticSpace:
    """Standardisation + PCA of pooled features, fitted on training images only.

    ``transform`` returns PCA scores divided by the standard deviation of the
    first component, so the vector has a scale near one whatever the network.

    Attributes
    ----------
    mean, scale : ndarray, shape (F,)
    components : ndarray, shape (D, F)
    score_scale : float
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    score_scale: float

    @classmethod
    def fit(cls, features: np.ndarray, n_components: int) -> "SemanticSpace":
        """Fit on training features of shape (N, F)."""
        features = np.asarray(features, dtype=np.float64)
        n_components = int(min(n_components, features.shape[0] - 1, features.shape[1]))
        if n_components < 1:
            raise ReconbenchError(f"need at least 2 training images to fit the semantic PCA, got {features.shape[0]}")
        mean = features.mean(0)
        scale = features.std(0)
        scale[scale < 1e-8] = 1.0
        standardised = (features - mean) / scale
        _, singular_values, vt = np.linalg.svd(standardised, full_matrices=False)
        components = vt[:n_components]
        # Fix the sign of each component (largest |loading| positive) so the space is unique.
        signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(1)])
        components = components * signs[:, None]
        score_scale = float(singular_values[0] / np.sqrt(features.shape[0]))
        return cls(mean.astype(np.float32), scale.astype(np.float32), components.astype(np.float32), max(score_scale, 1e-8))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Return semantic vectors of shape (N, D), float32."""
        features = np.asarray(features, dtype=np.float32)
        return (((features - self.mean) / self.scale) @ self.components.T / self.score_scale).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "components": self.components, "score_scale": np.float64(self.score_scale)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "SemanticSpace":
        return cls(arrays["mean"], arrays["scale"], arrays["components"], float(arrays["score_scale"]))


def fit_kmeans(vectors: np.ndarray, n_clusters: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means of training semantic vectors.

    Parameters
    ----------
    vectors : ndarray, shape (N, D)
        Semantic vectors of TRAINING images only.
    n_clusters : int
    random_state : int

    Returns
    -------
    centroids : ndarray, shape (K, D), float32
    labels : ndarray, shape (N,), int
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if n_clusters < 2 or n_clusters > vectors.shape[0]:
        raise ReconbenchError(f"n_clusters must be in [2, {vectors.shape[0]}] (number of training images), got {n_clusters}")
    kmeans = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state)
    kmeans.fit(vectors)
    return kmeans.cluster_centers_.astype(np.float32), kmeans.labels_.astype(np.int64)


DEFAULT_C_VALUES = (1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class ClusterDecoder:
    """Multinomial logistic classifier from responses to K-means cluster probabilities.

    Voxels are standardised with training statistics; ``C`` is chosen on the
    validation fold by log-loss, then the classifier is refitted on all samples.

    Attributes
    ----------
    voxel_mean, voxel_scale : ndarray, shape (V,)
    coef : ndarray, shape (K, V)
    intercept : ndarray, shape (K,)
    centroids : ndarray, shape (K, D)
    """

    voxel_mean: np.ndarray
    voxel_scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    centroids: np.ndarray

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        labels: np.ndarray,
        centroids: np.ndarray,
        validation_mask: np.ndarray,
        c_values: Sequence[float] = DEFAULT_C_VALUES,
        random_state: int = 0,
    ) -> "ClusterDecoder":
        """Fit on responses ``x`` (N, V) and cluster labels (N,) of the training images."""
        x = np.asarray(x, dtype=np.float64)
        labels = np.asarray(labels)
        mask = np.asarray(validation_mask, dtype=bool)
        n_clusters = centroids.shape[0]
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-8] = 1.0
        z = (x - mean) / scale

        def classifier(c: float) -> LogisticRegression:
            return LogisticRegression(C=c, max_iter=300, random_state=random_state)

        best_c, best_loss = c_values[0], np.inf
        for c in c_values:
            model = classifier(c).fit(z[~mask], labels[~mask])
            proba = _full_proba(model, z[mask], n_clusters)
            loss = -np.mean(np.log(np.clip(proba[np.arange(mask.sum()), labels[mask]], 1e-12, None)))
            if loss < best_loss:
                best_c, best_loss = c, loss
        model = classifier(best_c).fit(z, labels)
        coef = np.zeros((n_clusters, x.shape[1]))
        intercept = np.full(n_clusters, -1e4)  # a cluster absent from training gets probability ~0
        if len(model.classes_) == 2:
            coef_rows, intercept_rows = _binary_coef(model)
        else:
            coef_rows, intercept_rows = model.coef_, model.intercept_
        coef[model.classes_] = coef_rows
        intercept[model.classes_] = intercept_rows
        return cls(mean.astype(np.float32), scale.astype(np.float32), coef.astype(np.float32), intercept.astype(np.float32), np.asarray(centroids, np.float32))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Cluster probabilities, shape (N, K)."""
        z = (np.asarray(x, dtype=np.float32) - self.voxel_mean) / self.voxel_scale
        logits = z.astype(np.float64) @ self.coef.T.astype(np.float64) + self.intercept
        logits -= logits.max(1, keepdims=True)
        proba = np.exp(logits)
        return (proba / proba.sum(1, keepdims=True)).astype(np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability-weighted centroids, shape (N, D)."""
        return (self.predict_proba(x) @ self.centroids).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "voxel_mean": self.voxel_mean,
            "voxel_scale": self.voxel_scale,
            "coef": self.coef,
            "intercept": self.intercept,
            "centroids": self.centroids,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "ClusterDecoder":
        return cls(arrays["voxel_mean"], arrays["voxel_scale"], arrays["coef"], arrays["intercept"], arrays["centroids"])


def _binary_coef(model: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    # Two classes: scikit-learn stores one row; the softmax equivalent is (-w/2, +w/2).
    w, b = model.coef_[0], model.intercept_[0]
    return np.stack([-w / 2, w / 2]), np.array([-b / 2, b / 2])


def _full_proba(model: LogisticRegression, z: np.ndarray, n_clusters: int) -> np.ndarray:
    proba = np.zeros((z.shape[0], n_clusters))
    proba[:, model.classes_] = model.predict_proba(z)
    return proba
