"""The reference-row interface: when a row exists, its caption, and what a plugin must define."""

from __future__ import annotations

import numpy as np
import pytest

from reconbench.core.types import GroundTruthView, RowNote
from reconbench.core.types import TestInput as Inputs  # not 'Test*': pytest would try to collect it
from reconbench.references.base import Reference


class Images(Reference):
    name = "test-images"
    caption = "a caption"
    legend = "A legend sentence."
    requires = ("categories",)

    def fit(self, train, truth):
        return self


class Scores(Reference):
    name = "test-scores"
    metrics = ("pairwise_identification",)

    def fit(self, train, truth):
        return self


def test_a_row_exists_with_its_ground_truth_and_one_of_its_metrics() -> None:
    assert Images.applies({"categories", "noise_free"}, ["pixcorr"])
    assert not Images.applies({"noise_free"}, ["pixcorr"])  # a required field is missing
    assert Scores.applies(set(), ["pixcorr", "pairwise_identification"])
    assert not Scores.applies(set(), ["pixcorr", "ssim"])  # none of its metrics is run


def test_note_carries_caption_and_legend() -> None:
    assert Images.note() == RowNote("a caption", "A legend sentence.")


def test_defaults_make_no_images_and_no_scores() -> None:
    row = Images().fit(None, GroundTruthView())
    test = Inputs("natural", {"VC": np.zeros((2, 3), np.float32)}, np.array(["a", "b"]))
    assert row.reconstruct(test) is None and row.direct_scores(test, ["pixcorr"]) is None


def test_fit_must_be_defined() -> None:
    class NoFit(Reference):
        name = "no-fit"

    with pytest.raises(TypeError, match="abstract"):
        NoFit()
