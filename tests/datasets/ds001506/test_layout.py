"""The ds001506 layout: the file-name pattern, the sessions and the ROI keys."""

from __future__ import annotations

import pytest

from reconbench.core.types import BASE_ROIS, TEST_SETS
from reconbench.datasets.ds001506.layout import FILE_PATTERN, ROI_KEYS, SESSIONS, TEST_SET_SESSIONS, TRAIN_SESSION
from tests.data.bdata_files import build_dataset


@pytest.mark.parametrize(
    "name, subject, session, v2",
    [
        ("sub-01_perceptionNaturalImageTraining_original_VC.h5", "sub-01", "NaturalImageTraining", False),
        ("sub-02_perceptionNaturalImageTest_original_VC.h5", "sub-02", "NaturalImageTest", False),
        ("sub-03_perceptionArtificialImage_original_VC_v2.h5", "sub-03", "ArtificialImage", True),
        ("sub-01_perceptionLetterImage_original_VC_v2.h5", "sub-01", "LetterImage", True),
    ],
)
def test_documented_file_names_match(name, subject, session, v2) -> None:
    match = FILE_PATTERN.match(name)
    assert match and match["subject"] == subject and match["session"] == session and bool(match["v2"]) == v2


@pytest.mark.parametrize(
    "name",
    [
        "sub-01_perceptionNaturalImageTraining_original_VC.h5.bak",
        "sub-01_perceptionImageryTest_original_VC.h5",  # not a perception session of the benchmark
        "sub-01_perceptionLetterImage_original_LVC.h5",
        "sub01_perceptionLetterImage_original_VC.h5",
    ],
)
def test_other_names_do_not_match(name) -> None:
    assert FILE_PATTERN.match(name) is None


def test_sessions_feed_the_train_part_and_every_test_set_once() -> None:
    assert SESSIONS[TRAIN_SESSION] == "train"
    assert sorted(TEST_SET_SESSIONS) == sorted(TEST_SETS)
    assert {SESSIONS[session] for session in TEST_SET_SESSIONS.values()} == set(TEST_SETS)
    assert set(ROI_KEYS) == set(BASE_ROIS) and all(keys[0] == f"ROI_{roi}" for roi, keys in ROI_KEYS.items())


def test_files_written_in_the_layout_match_the_pattern(tmp_path) -> None:
    for style in ("2019", "v2"):
        built = build_dataset(tmp_path / style, style=style)
        for session, path in built.files["sub-01"].items():
            match = FILE_PATTERN.match(path.name)
            assert match and match["session"] == session and bool(match["v2"]) == (style == "v2")
