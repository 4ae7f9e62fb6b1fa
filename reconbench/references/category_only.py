"""The category-only reference: what perfect category knowledge, and nothing else, scores.

When the dataset's ground truth gives each stimulus's category (the simulator's
``ground_truth/stimuli.tsv``), every test image whose category also occurs in
training is "reconstructed" as the mean training image of its true category,
and scored like a method on every metric. The row exists only under the
simulator's ``seen`` design: when test categories are held out of training
(``unseen``, as in ds001506) no method could know a test image's category
images, and the nearest-category row (:mod:`reconbench.references.nearest_category`)
takes its place.
"""

from __future__ import annotations

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import GroundTruthView, TestInput, TrainData
from reconbench.references.base import Reference, category_mean_images


class CategoryOnly(Reference):
    """The mean training image of each test stimulus's true category."""

    name = "category-only"
    caption = "true-category mean training image"
    legend = "category-only scores each test image's true-category mean training image"
    requires = ("categories", "seen_test_categories")
    metrics = None

    def fit(self, train: TrainData, truth: GroundTruthView) -> "CategoryOnly":
        if truth.categories is None:
            raise ReconbenchError("the category-only reference needs the stimulus categories of the ground truth")
        self.categories_ = dict(truth.categories)
        self.means_ = category_mean_images(train, self.categories_)
        return self

    def covers(self, stimulus_ids) -> bool:
        """True if every id has a category seen in training."""
        return all(self.categories_.get(str(s)) in self.means_ for s in stimulus_ids)

    def reconstruct(self, test: TestInput) -> np.ndarray | None:
        if not self.covers(test.stimulus_ids):
            return None  # no category for this test set (e.g. shapes, letters): no row
        return np.stack([self.means_[self.categories_[str(s)]] for s in test.stimulus_ids])
