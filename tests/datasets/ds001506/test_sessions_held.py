"""ds001506 as users hold it: any subset of the test sessions beside the training session."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from reconbench.bench.runner import run_benchmark
from reconbench.core.errors import DataError
from reconbench.datasets.check import check_data
from reconbench.datasets.splits import load_split
from tests.data.bdata_files import ROI_SIZES, build_dataset, session_specs, write_session_file

ARTIFICIAL = "sub-01_perceptionArtificialImage_original_VC.h5"
LETTERS = "sub-01_perceptionLetterImage_original_VC.h5"


@pytest.fixture()
def natural_only(tmp_path):
    """The 2019 files a new user holds: natural training and test only, no /vmap, no /header."""
    built = build_dataset(tmp_path / "ds")
    for name in (ARTIFICIAL, LETTERS):
        (built.root / name).unlink()
    return built


def test_files_have_the_2019_layout(natural_only):
    for path in natural_only.root.glob("*.h5"):
        with h5py.File(path, "r") as h5:
            assert set(h5) == {"dataset", "metadata"}


def test_check_lists_present_and_absent(natural_only, capsys):
    check_data(natural_only.root)  # no problem raised
    out = capsys.readouterr().out
    assert "sub-01: test sets scored: natural; absent: shapes, letters" in out
    assert "every label has one stimulus image" in out


def test_split_has_the_test_sets_present(natural_only):
    split = load_split(natural_only.root, "sub-01", image_size=8)
    assert set(split.test_inputs) == {"natural"}
    specs = session_specs()
    assert len(split.test_inputs["natural"].stimulus_ids) == len(specs["NaturalImageTest"].names)


def test_natural_only_runs_end_to_end(natural_only, tmp_path):
    summary = run_benchmark(
        "ds001506",
        natural_only.root,
        tmp_path / "out",
        methods=["mean_image", "pixel_ridge:default"],
        metrics=["pixcorr", "ssim"],
        leaderboard=lambda out, rows: _write_board(out, rows),
    )
    assert summary.n_failed == 0 and summary.n_cells == 2
    assert set(summary.rows["test_set"]) == {"natural"}
    board = pd.read_csv(tmp_path / "out" / "board.csv")
    assert set(board["test_set"]) == {"natural"}


def _write_board(out, rows):
    from reconbench.leaderboard import write_leaderboard

    folder = write_leaderboard(out, out / "leaderboard", rows=rows)
    (out / "board.csv").write_text((folder / "leaderboard.csv").read_text())
    return folder


def test_missing_training_file_is_named(natural_only, capsys):
    (natural_only.root / "sub-01_perceptionNaturalImageTraining_original_VC.h5").unlink()
    with pytest.raises(DataError, match=r"missing file: .*sub-01_perceptionNaturalImageTraining_original_VC\.h5"):
        load_split(natural_only.root, "sub-01", image_size=8)
    with pytest.raises(DataError, match=r"missing file: .*sub-01_perceptionNaturalImageTraining_original_VC\.h5"):
        check_data(natural_only.root)


def test_training_without_any_test_session(natural_only):
    (natural_only.root / "sub-01_perceptionNaturalImageTest_original_VC.h5").unlink()
    with pytest.raises(DataError, match=r"no test session to score"):
        load_split(natural_only.root, "sub-01", image_size=8)
    with pytest.raises(DataError, match=r"no test session to score"):
        check_data(natural_only.root)


def test_subject_whose_files_disagree(natural_only):
    path = natural_only.root / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    sizes = dict(ROI_SIZES, V1=ROI_SIZES["V1"] - 1)
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(3), roi_sizes=sizes)
    pattern = (
        r"sub-01_perceptionNaturalImageTest_original_VC\.h5 \(NaturalImageTest\) has 6 V1 voxels but sub-01_perceptionNaturalImageTraining_original_VC\.h5"
    )
    with pytest.raises(DataError, match=pattern):
        load_split(natural_only.root, "sub-01", image_size=8)
    with pytest.raises(DataError, match=pattern):
        check_data(natural_only.root)
