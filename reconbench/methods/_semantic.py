"""Semantic stage of divide-and-conquer: feature targets, their decoder and K-means clusters.

The semantic vector of an image is a PCA-reduced, pooled convolutional feature
map of a pretrained network (AlexNet or VGG16 conv features from
``reconbench.metrics.features``). Pooling, standardisation and PCA are fitted on
training images only. The vector is decoded from HVC by ridge
(:func:`reconbench.decoders.linear.fit_roi_decoder`), or, in the K-means variant,
training vectors are clustered (K-means on training images only), a multinomial
logistic classifier predicts cluster probabilities from HVC, and the semantic
vector is the probability-weighted centroid.

The published method's semantic vector is different in kind: the 64-d tanh hidden
layer of an MLP classifier (fMRI -> 1024 -> 64 -> classes) trained on the training
responses to predict each image's category (:class:`MLPClassifier`); it is a
function of the responses, with no image-side counterpart. The same MLP, trained
on K-means cluster labels instead of categories, is the seed repository's K-means
enhancement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from reconbench.core.errors import ReconbenchError
from reconbench.decoders.features import feature_vectors
from reconbench.decoders.targets import project_features
from reconbench.decoders.torch_utils import seeded_torch

CATEGORY_ID = re.compile(r"^(n\d+)_\d+$")


def category_labels(stimulus_ids) -> tuple[np.ndarray, list[str]]:
    """Category of each training image from its ImageNet-style id ``n<synset>_<number>``
    (ds001506's and the simulator's ids; the category is the synset).

    Returns
    -------
    labels : ndarray, shape (S,), int
        Index into ``categories``.
    categories : list of str
        Sorted synsets.

    Raises
    ------
    ReconbenchError
        An id not of that form (the message names it).
    """
    synsets = []
    for stimulus_id in (str(s) for s in np.asarray(stimulus_ids).astype(str)):
        match = CATEGORY_ID.match(stimulus_id)
        if match is None:
            raise ReconbenchError(f"stimulus id {stimulus_id!r} is not of the form n<synset>_<number>; the classifier needs a category per training image")
        synsets.append(match.group(1))
    categories = sorted(set(synsets))
    index = {c: k for k, c in enumerate(categories)}
    return np.array([index[c] for c in synsets], dtype=np.int64), categories


@dataclass
class MLPClassifier:
    """An MLP classifier from voxels: ``z -> relu(W1 z) -> tanh(W2 .) -> W3 . -> softmax`` (1024 and 64 units by default).

    Voxels are standardised with training statistics. Trained with cross-entropy by
    Adam on single trials of the training images outside the validation fold, in
    minibatches, for at most ``max_epochs`` epochs; the epoch with the lowest
    validation log-loss (responses of the validation images) is kept. Deterministic
    for a seed and a thread count (:func:`reconbench.decoders.torch_utils.seeded_torch`).

    Attributes
    ----------
    voxel_mean, voxel_scale : ndarray, shape (V,)
    weights : dict of str to ndarray
        ``w1`` (H, V), ``b1``, ``w2`` (D, H), ``b2``, ``w3`` (K, D), ``b3``.
    """

    voxel_mean: np.ndarray
    voxel_scale: np.ndarray
    weights: dict

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        labels: np.ndarray,
        validation: np.ndarray,
        n_classes: int,
        hidden: int = 1024,
        semantic_dim: int = 64,
        max_epochs: int = 60,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
        threads: int = 1,
        device: str = "cpu",
    ) -> "MLPClassifier":
        """Fit on samples ``x`` (N, V) with ``labels`` (N,); ``validation`` (N,) bool marks the validation samples.

        On a CUDA ``device`` the network trains there (its initial weights and the minibatch
        order are drawn on the CPU, as on the CPU; torch's deterministic settings apply)."""
        import torch
        import torch.nn.functional as F
        from torch import nn

        x = np.asarray(x, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        validation = np.asarray(validation, dtype=bool)
        if validation.all() or not validation.any():
            raise ReconbenchError("the MLP classifier needs samples both inside and outside the validation fold")
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-8] = 1.0
        from reconbench.core.device import torch_device

        on = torch_device(device)
        z = torch.from_numpy(((x - mean) / scale).astype(np.float32)).to(on)
        y = torch.from_numpy(labels).to(on)
        fit_rows = torch.from_numpy(np.flatnonzero(~validation))
        val_rows = torch.from_numpy(np.flatnonzero(validation)).to(on)
        with seeded_torch(seed, threads, device):
            net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, semantic_dim), nn.Tanh(), nn.Linear(semantic_dim, n_classes))
            net = net.to(on)
            optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
            draws = torch.Generator().manual_seed(int(seed))
            best = (float("inf"), None)
            for _ in range(max_epochs):
                net.train()
                order = fit_rows[torch.randperm(len(fit_rows), generator=draws)].to(on)
                for begin in range(0, len(order), batch_size):
                    rows = order[begin : begin + batch_size]
                    loss = F.cross_entropy(net(z[rows]), y[rows])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                net.eval()
                with torch.no_grad():
                    val_loss = float(F.cross_entropy(net(z[val_rows]), y[val_rows]))
                if val_loss < best[0]:
                    best = (val_loss, {k: v.detach().clone() for k, v in net.state_dict().items()})
            net.load_state_dict(best[1])
        names = {"0.weight": "w1", "0.bias": "b1", "2.weight": "w2", "2.bias": "b2", "4.weight": "w3", "4.bias": "b3"}
        weights = {names[k]: v.cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
        return cls(mean.astype(np.float32), scale.astype(np.float32), weights)

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """The semantic vector: the tanh layer's activations, shape (N, D), float32."""
        w = self.weights
        z = (np.asarray(x, dtype=np.float32) - self.voxel_mean) / self.voxel_scale
        h = np.maximum(z @ w["w1"].T + w["b1"], 0.0)
        return np.tanh(h @ w["w2"].T + w["b2"]).astype(np.float32)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, K)."""
        logits = (self.hidden(x) @ self.weights["w3"].T + self.weights["b3"]).astype(np.float64)
        logits -= logits.max(1, keepdims=True)
        proba = np.exp(logits)
        return (proba / proba.sum(1, keepdims=True)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"voxel_mean": self.voxel_mean, "voxel_scale": self.voxel_scale, **self.weights}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "MLPClassifier":
        return cls(arrays["voxel_mean"], arrays["voxel_scale"], {k: arrays[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3")})


@dataclass
class MLPClusterDecoder:
    """The seed repository's K-means enhancement: an :class:`MLPClassifier` from responses to the K-means
    cluster of each training image; the semantic vector is the probability-weighted centroid."""

    classifier: MLPClassifier
    centroids: np.ndarray

    @classmethod
    def fit(cls, train, roi: str, image_labels: np.ndarray, centroids: np.ndarray, seed: int = 0, device: str = "cpu") -> "MLPClusterDecoder":
        """Fit on the single trials of ``train`` (a ``TrainData``); ``image_labels`` (S,) are the training images' clusters."""
        trial_labels = np.asarray(image_labels)[train.trial_image_index]
        validation = np.asarray(train.validation_mask)[train.trial_image_index]
        classifier = MLPClassifier.fit(train.fmri[roi], trial_labels, validation, n_classes=int(centroids.shape[0]), seed=seed, device=device)
        return cls(classifier, np.asarray(centroids, np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability-weighted centroids, shape (N, D)."""
        return (self.classifier.predict_proba(x) @ self.centroids).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**self.classifier.to_arrays(), "centroids": self.centroids}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "MLPClusterDecoder":
        return cls(MLPClassifier.from_arrays(arrays), arrays["centroids"])


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
        """Return semantic vectors of shape (N, D), float32 (:func:`reconbench.decoders.targets.project_features`,
        the function the harness computes a test image's true vector with)."""
        return project_features(features, self.mean, self.scale, self.components, self.score_scale)

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
