"""Stimulus ids, stimulus tables and stimulus images of the ds001506 layout."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from reconbench.core.errors import DataError
from reconbench.datasets.ds001506.stimuli import (
    center_crop_square,
    default_image_size,
    natural_image_id,
    read_stimulus_table,
)
from reconbench.datasets.layouts import load_held_subject
from tests.data.bdata_files import ARTIFICIAL_NAMES, LETTER_NAMES, TEST_NATURAL, build_dataset, natural_name


@pytest.mark.parametrize(
    "value, expected",
    [
        (1518878.005958, "n01518878_5958"),
        (1518878.01, "n01518878_10000"),  # str() would show 1518878.01
        (2085620.010042, "n02085620_10042"),
        (2089973.000001, "n02089973_1"),
        (4254680.0035, "n04254680_3500"),
    ],
)
def test_natural_image_id(value, expected):
    assert natural_image_id(value) == expected


def test_stimulus_table_strips_extension_and_keeps_ids(tmp_path):
    table = tmp_path / "stimulus_ArtificialImage.tsv"
    table.write_text("colorExpStim01_red_square.tiff\t1.000000\t0\t1\ncolorExpStim02_green_X\t2.5\t0\t2\n")
    parsed = read_stimulus_table(table)
    assert parsed.names == ["colorExpStim01_red_square", "colorExpStim02_green_X"]
    assert parsed.by_stimulus_id == {"1.000000": "colorExpStim01_red_square", "2.500000": "colorExpStim02_green_X"}
    assert parsed.by_image_index == {1: "colorExpStim01_red_square", 2: "colorExpStim02_green_X"}


def test_center_crop_square_portrait_and_landscape():
    image = np.arange(2 * 5 * 3).reshape(2, 5, 3)
    np.testing.assert_array_equal(center_crop_square(image), image[:, 1:4, :])
    np.testing.assert_array_equal(center_crop_square(image.transpose(0, 2, 1)), image.transpose(0, 2, 1)[:, :, 1:4])


def test_default_image_size(tmp_path):
    assert default_image_size(tmp_path) == 256
    (tmp_path / "ground_truth").mkdir()
    (tmp_path / "ground_truth" / "simulation.json").write_text('{"image_size": 64, "preset": "tiny"}')
    assert default_image_size(tmp_path) == 64
    # The simulator keeps it among its preset knobs.
    (tmp_path / "ground_truth" / "simulation.json").write_text('{"knobs": {"image_size": 48}, "preset": "tiny"}')
    assert default_image_size(tmp_path) == 48


def test_tables_in_root_are_found(tmp_path):
    built = build_dataset(tmp_path / "ds", tables_in_stimuli=False)
    subject = load_held_subject(built.root, "sub-01", image_size=4, sessions=["ArtificialImage"]).data
    assert sorted(set(subject.sessions["ArtificialImage"].stimulus_ids)) == sorted(ARTIFICIAL_NAMES)


def test_label_without_stimulus_image(dataset_copy):
    root = dataset_copy
    missing = natural_name(*TEST_NATURAL[1])
    (root / "stimuli" / "test" / f"{missing}.JPEG").unlink()
    with pytest.raises(DataError, match=rf"label '{missing}' in .*sub-01_perceptionNaturalImageTest_original_VC\.h5 has no stimulus image"):
        load_held_subject(root, "sub-01", image_size=4)


def test_two_images_with_one_stem(dataset_copy):
    root = dataset_copy
    stem = LETTER_NAMES[0]
    shutil.copy(root / "stimuli" / "LetterImage" / f"{stem}.tif", root / "stimuli" / f"{stem}.png")
    with pytest.raises(DataError, match=rf"'{stem}' .* matches several images"):
        load_held_subject(root, "sub-01", image_size=4)
