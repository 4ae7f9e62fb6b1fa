"""The command line on good and bad data: one clear error line, exit status 2, nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reconbench.cli import main
from tests.data.bdata_files import LETTER_NAMES, build_dataset, session_specs, write_session_file


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("cli") / "ds", subjects=("sub-01", "sub-03")).root


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def bad_copy(good_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    shutil.copytree(good_root, root)
    return root


def test_data_check_on_good_data(good_root, capsys):
    code, out, err = run_main(["data", "check", str(good_root)], capsys)
    assert code == 0, err
    for text in ("sub-01", "sub-03", "NaturalImageTraining", "NaturalImageTest", "ArtificialImage", "LetterImage", "V1", "VC"):
        assert text in out
    assert "every label has one stimulus image" in out


def test_data_check_reads_root_from_environment(good_root, capsys, monkeypatch):
    monkeypatch.setenv("RECONBENCH_DATA", str(good_root))
    code, out, _ = run_main(["data", "check"], capsys)
    assert code == 0 and "sub-03" in out


def truncate(root: Path) -> str:
    path = root / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    path.write_bytes(path.read_bytes()[:3000])
    return path.name


def remove_file(root: Path) -> str:
    name = "sub-03_perceptionLetterImage_original_VC.h5"
    (root / name).unlink()
    return name


def remove_image(root: Path) -> str:
    (root / "stimuli" / "LetterImage" / f"{LETTER_NAMES[1]}.tif").unlink()
    return LETTER_NAMES[1]


def drop_roi(root: Path) -> str:
    write_session_file(root / "sub-01_perceptionArtificialImage_original_VC.h5", session_specs()["ArtificialImage"],
                       np.random.default_rng(5), drop_keys=("ROI_PPA",))
    return "ROI_PPA"


def nan_voxels(root: Path) -> str:
    write_session_file(root / "sub-01_perceptionNaturalImageTest_original_VC.h5", session_specs()["NaturalImageTest"],
                       np.random.default_rng(5), nan_voxel=True)
    return "NaN/inf voxel values"


def wrong_shape(root: Path) -> str:
    write_session_file(root / "sub-01_perceptionNaturalImageTest_original_VC.h5", session_specs()["NaturalImageTest"],
                       np.random.default_rng(5), value_columns_delta=-3)
    return "/metadata/value has shape"


@pytest.mark.parametrize("breaker", [truncate, remove_file, remove_image, drop_roi, nan_voxels, wrong_shape])
def test_data_check_on_bad_data(good_root, tmp_path, capsys, breaker):
    root = bad_copy(good_root, tmp_path)
    expected = breaker(root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, out, err = run_main(["data", "check", str(root)], capsys)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert expected in out + err
    # The rest is still reported.
    assert "sub-03" in out
    # Checking writes nothing.
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_data_check_missing_folder(tmp_path, capsys):
    code, _, err = run_main(["data", "check", str(tmp_path / "absent")], capsys)
    assert code == 2 and "absent" in err and "does not exist" in err


def test_data_check_empty_folder(tmp_path, capsys):
    code, _, err = run_main(["data", "check", str(tmp_path)], capsys)
    assert code == 2 and "no session files" in err


def test_console_script_exit_status_and_message(good_root, tmp_path):
    # End to end through a fresh interpreter, as a user runs it.
    root = bad_copy(good_root, tmp_path)
    name = truncate(root)
    env = {k: v for k, v in os.environ.items() if k != "RECONBENCH_DATA"}
    result = subprocess.run([sys.executable, "-m", "reconbench", "data", "check", str(root)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr
    help_result = subprocess.run([sys.executable, "-m", "reconbench", "data", "check", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert help_result.returncode == 0 and "missing stimuli" in help_result.stdout


def test_simulate_refuses_existing_output_folder(tmp_path, capsys):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_main(["simulate", "--preset", "tiny", "--out", str(out), "--seed", "0"], capsys)
    assert code == 2 and str(out) in err and "already exists" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]  # no temporary siblings left


def test_simulate_bad_preset_writes_nothing(tmp_path, capsys):
    out = tmp_path / "new"
    code, _, err = run_main(["simulate", "--preset", "huge", "--out", str(out)], capsys)
    assert code == 2 and "huge" in err
    assert list(tmp_path.iterdir()) == []
