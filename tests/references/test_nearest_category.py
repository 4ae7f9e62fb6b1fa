"""The nearest-category reference row."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import GroundTruthView, TrainData
from reconbench.core.types import TestInput as Inputs  # not 'Test*': pytest would try to collect it
from reconbench.references.nearest_category import NearestCategory, nearest_training_category
from tests.data.grid_run import natural_values


def _train() -> TrainData:
    images = np.stack([np.full((3, 2, 2), v, np.float32) for v in (0.1, 0.3, 0.8, 0.6)])
    return TrainData(
        images=images,
        stimulus_ids=np.array(["a", "b", "c", "d"]),
        fmri={"VC": np.zeros((4, 2), np.float32)},
        trial_image_index=np.arange(4),
        runs=np.zeros(4, int),
        validation_mask=np.zeros(4, bool),
    )


VECTORS = {"0": np.array([1.0, 0.0]), "1": np.array([0.0, 1.0]), "2": np.array([0.9, 0.1]), "3": np.array([0.2, 0.9])}


def test_mean_image_of_the_nearest_other_training_category() -> None:
    truth = GroundTruthView(categories={"a": "0", "b": "0", "c": "1", "d": "1", "t1": "2", "t2": "3", "t3": "0"}, category_vectors=VECTORS)
    reference = NearestCategory().fit(_train(), truth)
    test = Inputs("natural", {"VC": np.zeros((3, 2), np.float32)}, np.array(["t1", "t2", "t3"]))
    images = reference.reconstruct(test)
    # t1 (category 2) is nearest to 0, t2 (3) to 1; t3 is of training category 0 itself, whose nearest *other* is 1.
    np.testing.assert_allclose(images[:, 0, 0, 0], [0.2, 0.7, 0.7])


def test_no_row_without_categories_and_errors_name_the_category() -> None:
    truth = GroundTruthView(categories={"a": "0", "b": "0", "c": "1", "d": "1"}, category_vectors=VECTORS)
    reference = NearestCategory().fit(_train(), truth)
    assert reference.reconstruct(Inputs("shapes", {"VC": np.zeros((1, 2))}, np.array(["colorExpStim01_red_square"]))) is None
    with pytest.raises(ReconbenchError, match="no vector for category 9"):
        nearest_training_category("9", VECTORS, ["0", "1"])
    assert NearestCategory.applies({"categories", "category_vectors"}, ["pixcorr"])
    assert not NearestCategory.applies({"categories"}, ["pixcorr"])


def test_nearest_category_reference(tiny_grid_run, tiny_data_dir) -> None:
    """End to end on ``tiny``: the row's PixCorr is that of the image an independent computation picks
    (scipy cosine distances over the simulator's embedding, means of the training PNGs)."""
    from reconbench.datasets.simulated.ground_truth import load_ground_truth
    from reconbench.datasets.splits import load_split

    truth = load_ground_truth(tiny_data_dir)
    embedding = truth.encoding["sub-01"]["category_embedding"]
    split = load_split(tiny_data_dir, "sub-01")
    rows = tiny_grid_run.rows
    assert set(rows.loc[rows["method"] == "nearest-category", "test_set"]) == {"natural"}
    assert "category-only" not in set(rows["method"]), "no category-only row when test categories are unseen"
    train_categories = np.array([truth.category[s] for s in split.train.stimulus_ids])
    candidates = np.unique(train_categories)
    ids, true = split.test_images["natural"]
    got = natural_values(rows, "nearest-category", "pixcorr")
    for k, stimulus_id in enumerate(ids):
        distance = scipy.spatial.distance.cdist(embedding[[truth.category[stimulus_id]]], embedding[candidates], "cosine")[0]
        nearest = candidates[np.argmin(distance)]
        assert nearest != truth.category[stimulus_id]
        mean_image = split.train.images[train_categories == nearest].mean(axis=0)
        expected = scipy.stats.pearsonr(mean_image.ravel(), true[k].ravel())[0]
        assert got[stimulus_id] == pytest.approx(expected, abs=2e-3)  # small: the resize to evaluation size
