"""The category-only reference row."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from reconbench.core.types import GroundTruthView, TrainData
from reconbench.core.types import TestInput as Inputs  # not 'Test*': pytest would try to collect it
from reconbench.references.category_only import CategoryOnly
from tests.data.grid_run import natural_values


def _train() -> TrainData:
    images = np.stack([np.full((3, 2, 2), v, np.float32) for v in (0.1, 0.3, 0.8)])
    return TrainData(
        images=images,
        stimulus_ids=np.array(["a", "b", "c"]),
        fmri={"VC": np.zeros((3, 2), np.float32)},
        trial_image_index=np.arange(3),
        runs=np.zeros(3, int),
        validation_mask=np.zeros(3, bool),
    )


def test_mean_training_image_of_the_true_category() -> None:
    truth = GroundTruthView(categories={"a": "0", "b": "0", "c": "1", "t1": "1", "t2": "0"})
    reference = CategoryOnly().fit(_train(), truth)
    test = Inputs("natural", {"VC": np.zeros((2, 2), np.float32)}, np.array(["t1", "t2"]))
    images = reference.reconstruct(test)
    np.testing.assert_allclose(images[:, 0, 0, 0], [0.8, 0.2])
    assert reference.direct_scores(test, ["pixcorr"]) is None  # scored like a method


def test_no_row_without_a_category_seen_in_training() -> None:
    reference = CategoryOnly().fit(_train(), GroundTruthView(categories={"a": "0", "b": "0", "c": "1"}))
    shapes = Inputs("shapes", {"VC": np.zeros((1, 2), np.float32)}, np.array(["colorExpStim01_red_square"]))
    assert reference.reconstruct(shapes) is None


def test_it_exists_only_with_categories_seen_in_training() -> None:
    assert CategoryOnly.applies({"categories", "seen_test_categories"}, ["pixcorr"])
    assert not CategoryOnly.applies({"categories"}, ["pixcorr"]), "not under the unseen design"
    assert not CategoryOnly.applies(set(), ["pixcorr"])
    assert CategoryOnly.note().caption == "true-category mean training image"


def test_category_only_reference(tmp_path) -> None:
    """End to end on ``tiny`` under the ``seen`` design (the only one where the row exists)."""
    from reconbench.bench.runner import run_benchmark
    from reconbench.datasets.simulated.ground_truth import load_ground_truth
    from reconbench.datasets.simulated.simulate import simulate
    from reconbench.datasets.splits import load_split

    data = simulate("tiny", tmp_path / "seen", settings={"test_categories": "seen"})
    rows = run_benchmark("simulated:tiny@test_categories=seen", data, tmp_path / "out", methods=["mean_image"], metrics=["pixcorr"], jobs=1).rows
    truth = load_ground_truth(data)
    split = load_split(data, "sub-01")
    reference = rows[rows["method"] == "category-only"]
    assert set(reference["kind"]) == {"reference"}
    assert set(reference["test_set"]) == {"natural"}, "shapes and letters have no category"
    train_categories = np.array([truth.category[s] for s in split.train.stimulus_ids])
    ids, true = split.test_images["natural"]
    got = natural_values(rows, "category-only", "pixcorr")
    for k, stimulus_id in enumerate(ids):
        mean_image = split.train.images[train_categories == truth.category[stimulus_id]].mean(axis=0)
        expected = scipy.stats.pearsonr(mean_image.ravel(), true[k].ravel())[0]
        assert got[stimulus_id] == pytest.approx(expected, abs=2e-3)  # small: the resize to evaluation size
