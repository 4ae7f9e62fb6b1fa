"""Divide-and-conquer with the K-means semantic enhancement.

As :mod:`reconbench.methods.divide_and_conquer`, except for the semantic stage:
the semantic vectors of the TRAINING images are clustered by K-means (K = 20 by
default, seeded); a multinomial logistic classifier predicts cluster
probabilities from HVC (``C`` chosen on the validation fold by log-loss;
fitted on responses averaged per training image, like the test inputs, whatever
``samples`` says for the ridge decoders); the generator
receives the probability-weighted centroid. The generator is trained on the
centroid of each training image's own cluster, which is what it receives when
the classifier is confident.

The parameter set ``mlp`` is the seed repository's recipe: the cluster classifier is
an MLP (HVC -> 1024 -> 64 -> K, :class:`reconbench.methods._semantic.MLPClassifier`)
trained on single training trials, with K = 20 clusters of the training images'
pretrained features (AlexNet conv5 here, pooled and PCA-reduced as the semantic
vector; the seed used ResNet-50 average-pool features, which cannot be fetched
offline). The default set keeps the multinomial logistic classifier.

Unlike the published demo, the clustering sees training images only: no test
image and no test response reaches ``KMeans.fit`` (a test checks it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import TrainData
from reconbench.methods import _semantic
from reconbench.methods.divide_and_conquer import DivideAndConquer


class DivideAndConquerKMeans(DivideAndConquer):
    """Divide-and-conquer whose semantic vector is a probability-weighted K-means centroid.

    Parameters
    ----------
    n_clusters : int
        K of the K-means clustering of training-image semantic vectors.
    cluster_classifier : {"logistic", "mlp"}
        The classifier from HVC to clusters: multinomial logistic regression on
        averaged responses (default) or the seed's MLP on single trials.
    (all others)
        As :class:`~reconbench.methods.divide_and_conquer.DivideAndConquer`.
    """

    name = "divide_and_conquer_kmeans"
    parameter_sets = {"default": {}, "mlp": {"cluster_classifier": "mlp"}}
    # The cluster classifier only decodes; the generator trains on the centroids either way.
    DECODER_ONLY_PARAMS = DivideAndConquer.DECODER_ONLY_PARAMS | {"cluster_classifier"}
    GENERATOR_SEMANTICS = "kmeans_centroids"

    def __init__(
        self,
        size: str = "auto",
        n_clusters: int = 20,
        cluster_classifier: str = "logistic",
        shape_rois: tuple[str, ...] = ("V1", "V2", "V3"),
        shape_kind: str = "blur",
        semantic_roi: str = "HVC",
        semantic_net: str = "alexnet",
        semantic_layer: str = "conv5",
        semantic_pool: int = 2,
        semantic_components: int = 64,
        use_semantics: bool = True,
        samples: str = "trials",
        generator_inputs: str = "true",
        decoded_folds: int = 5,
        iterations: int | None = None,
        pixel_weight: float | None = None,
        perceptual_weight: float | None = None,
        extra_images: bool = False,
        random_state: int = 0,
        device: str = "cpu",
    ):
        super().__init__(
            size=size,
            shape_rois=shape_rois,
            shape_kind=shape_kind,
            semantic_roi=semantic_roi,
            semantic_net=semantic_net,
            semantic_layer=semantic_layer,
            semantic_pool=semantic_pool,
            semantic_components=semantic_components,
            use_semantics=use_semantics,
            samples=samples,
            generator_inputs=generator_inputs,
            decoded_folds=decoded_folds,
            iterations=iterations,
            pixel_weight=pixel_weight,
            perceptual_weight=perceptual_weight,
            extra_images=extra_images,
            random_state=random_state,
            device=device,
        )
        self.n_clusters = n_clusters
        self.cluster_classifier = cluster_classifier

    def _prepare_semantics(self, train: TrainData, vectors: np.ndarray) -> None:
        # Training images only: ``vectors`` are the semantic vectors of train.images.
        self.centroids_, self.train_cluster_labels_ = _semantic.fit_kmeans(vectors, int(self.n_clusters), int(self.random_state))

    def _check_params(self) -> None:
        super()._check_params()
        if self.cluster_classifier not in ("logistic", "mlp"):
            raise ReconbenchError(f"{self.name}: cluster_classifier={self.cluster_classifier!r} is not 'logistic' or 'mlp'")

    def _semantic_decoder_params(self) -> dict[str, Any]:
        return {"kind": f"kmeans_{self.cluster_classifier}", "roi": self.semantic_roi, "n_clusters": int(self.n_clusters), "seed": int(self.random_state)}

    def _fit_cluster_decoder(self, train: TrainData, labels: np.ndarray):
        if self.cluster_classifier == "mlp":
            return _semantic.MLPClusterDecoder.fit(train, self.semantic_roi, labels, self.centroids_, seed=int(self.random_state), device=self.device)
        return _semantic.ClusterDecoder.fit(
            train.averaged_fmri(self.semantic_roi), labels, self.centroids_, train.validation_mask, random_state=int(self.random_state)
        )

    def _fit_semantic_decoder(self, train: TrainData, vectors: np.ndarray):
        decoder_class = _semantic.MLPClusterDecoder if self.cluster_classifier == "mlp" else _semantic.ClusterDecoder

        def compute():
            return self._fit_cluster_decoder(train, self.train_cluster_labels_).to_arrays(), {}

        arrays, _ = self._cached(
            "semantic_decoder",
            self._semantic_decoder_params(),
            {"targets": vectors, "centroids": self.centroids_, **self._train_inputs(train, [self.semantic_roi])},
            compute,
        )
        return decoder_class.from_arrays(arrays)

    def _generator_semantics(self, vectors: np.ndarray) -> np.ndarray:
        # Each image's own-cluster centroid (nearest centroid, so extra images work too).
        distances = ((vectors[:, None, :] - self.centroids_[None]) ** 2).sum(-1)
        return self.centroids_[distances.argmin(1)]

    def _fold_semantic_prediction(self, sub: TrainData, keep: np.ndarray, x_held: np.ndarray) -> np.ndarray:
        return self._fit_cluster_decoder(sub, self.train_cluster_labels_[keep]).predict(x_held)
