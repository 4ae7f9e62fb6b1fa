"""The nearest-category reference: a category-level guess that is possible when test categories are unseen.

Each test image is "reconstructed" as the mean training image of the training
category whose vector in the simulator's ground-truth semantic embedding is
closest (cosine) to the test image's own category, never the own category
itself. When test categories are held out of training (the ds001506 design)
this is the best a method could do that knew which *related* category a test
image belongs to and nothing about the image: the bar below which a
reconstruction says nothing beyond coarse semantics. Under the ``seen`` design
the own category is skipped too, so the row keeps its meaning; there the
category-only row (:mod:`reconbench.references.category_only`) gives the
own-category version.
"""

from __future__ import annotations

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import GroundTruthView, TestInput, TrainData
from reconbench.references.base import Reference, category_mean_images


def nearest_training_category(category: str, vectors: dict[str, np.ndarray], training_categories: list[str]) -> str:
    """The training category other than ``category`` whose embedding vector has the largest cosine with ``category``'s.

    Ties go to the category listed first in ``training_categories``.

    Raises
    ------
    ReconbenchError
        ``category`` or a training category has no vector, or no other training category exists.
    """
    missing = [c for c in [category, *training_categories] if c not in vectors]
    if missing:
        raise ReconbenchError(f"the ground-truth embedding has no vector for categor{'y' if len(missing) == 1 else 'ies'} {', '.join(missing[:5])}")
    candidates = [c for c in training_categories if c != category]
    if not candidates:
        raise ReconbenchError(f"no training category other than {category!r} to compare with")
    target = np.asarray(vectors[category], dtype=np.float64)
    matrix = np.stack([np.asarray(vectors[c], dtype=np.float64) for c in candidates])
    cosine = matrix @ target / np.maximum(np.linalg.norm(matrix, axis=1) * np.linalg.norm(target), 1e-12)
    return candidates[int(np.argmax(cosine))]


class NearestCategory(Reference):
    """The mean training image of the nearest other training category in the ground-truth embedding."""

    name = "nearest-category"
    caption = "mean training image of the nearest other category"
    legend = (
        "nearest-category scores, for each test image, the mean training image of the training category nearest to the "
        "image's own category in the simulator's semantic embedding (never its own category): what knowing a related "
        "category alone gives"
    )
    requires = ("categories", "category_vectors")
    metrics = None

    def fit(self, train: TrainData, truth: GroundTruthView) -> "NearestCategory":
        if truth.categories is None or truth.category_vectors is None:
            raise ReconbenchError("the nearest-category reference needs the stimulus categories and the category embedding of the ground truth")
        self.categories_ = dict(truth.categories)
        self.vectors_ = {str(k): np.asarray(v) for k, v in truth.category_vectors.items()}
        self.means_ = category_mean_images(train, self.categories_)
        self.training_categories_ = sorted(self.means_, key=int)
        return self

    def reconstruct(self, test: TestInput) -> np.ndarray | None:
        categories = [self.categories_.get(str(s)) for s in test.stimulus_ids]
        if any(c is None for c in categories) or len(self.training_categories_) < 2:
            return None  # no category for this test set (e.g. shapes, letters): no row
        self.nearest_ = {c: nearest_training_category(c, self.vectors_, self.training_categories_) for c in set(categories)}
        return np.stack([self.means_[self.nearest_[c]] for c in categories])
