"""Retrieval baseline: decode image features, return the best-matching training image."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reconbench.core.method import Method
from reconbench.core.types import TestInput, TrainData
from reconbench.decoders.features import feature_vectors
from reconbench.decoders.ridge import DEFAULT_ALPHAS, fit_ridge_decoder


def _standardise_rows(matrix: np.ndarray) -> np.ndarray:
    """Centre each row and scale it to unit norm, so row dot products are Pearson r."""
    centred = matrix - matrix.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.where(norms > 0, norms, 1.0)


class NearestNeighbor(Method):
    """Decode pretrained AlexNet features from voxels and retrieve a training image.

    Features of every training image are computed with the pretrained network
    (:func:`reconbench.metrics.features.image_features`, average-pooled to
    ``pool`` x ``pool``); a ridge decoder predicts their principal components
    from ``roi``; a test input is answered with the training image whose
    features correlate best (Pearson r over feature units) with the decoded
    features. It can only return images it was trained on, so it shows how far
    retrieval goes without producing a novel image.

    Parameters
    ----------
    roi : str, default "VC"
    net, layer : str, default "alexnet", "conv5"
    pool : int or None, default 6
    target_pca : int, float or None, default 0.95
        PCA of the training features before decoding (see ``RidgeDecoder``).
    samples : {"trials", "averaged"}, default "trials"
    alphas : sequence of float, default ``DEFAULT_ALPHAS``
    device : str, default "cpu"
        The run's device (the harness passes it): the ridge solve runs there.

    Attributes
    ----------
    decoder_ : RidgeDecoder
    train_images_ : ndarray, shape (S, 3, H, W)
    train_features_ : ndarray, shape (S, F), rows centred and unit norm
    train_ids_ : ndarray, shape (S,)
    """

    name = "nearest_neighbor"
    parameter_sets = {"default": {}}
    citation = "Feature decoding + identification among candidates: Horikawa & Kamitani (2017), Nat Commun 8:15037; retrieval as a reconstruction baseline"
    requires = ("weights:alexnet",)

    def __init__(
        self,
        roi: str = "VC",
        net: str = "alexnet",
        layer: str = "conv5",
        pool: int | None = 6,
        target_pca: int | float | None = 0.95,
        samples: str = "trials",
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        device: str = "cpu",
    ) -> None:
        self.roi = roi
        self.net = net
        self.layer = layer
        self.pool = pool
        self.target_pca = target_pca
        self.samples = samples
        self.alphas = alphas
        self.device = device

    def fit(self, train: TrainData) -> "NearestNeighbor":
        """Compute training-image features and fit the feature decoder; returns ``self``."""
        images = np.asarray(train.images, dtype=np.float32)
        features = feature_vectors(images, net=self.net, layer=self.layer, pool=self.pool)
        self.decoder_ = fit_ridge_decoder(train, self.roi, features, samples=self.samples, alphas=self.alphas, target_pca=self.target_pca, device=self.device)
        self.train_images_ = images
        self.train_ids_ = np.asarray(train.stimulus_ids)
        self.train_features_ = _standardise_rows(features.astype(np.float64)).astype(np.float32)
        return self

    def retrieve(self, test: TestInput) -> np.ndarray:
        """Return the row of the training images retrieved for each test input, shape (M,), int."""
        self.check_is_fitted("decoder_", "train_features_")
        decoded = self.decoder_.predict(np.asarray(test.fmri[self.roi], dtype=np.float32))
        correlation = _standardise_rows(decoded.astype(np.float64)) @ self.train_features_.T.astype(np.float64)
        return np.argmax(correlation, axis=1)

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Return the retrieved training images, shape (M, 3, H, W), float32 in [0, 1]."""
        self.check_is_fitted("decoder_", "train_features_", "train_images_")
        return self.train_images_[self.retrieve(test)].copy()
