"""Sweep settings: validation, canonical dataset names, and what a setting changes in the simulated files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.catalog import get_dataset
from reconbench.datasets.simulated.ground_truth import simulated_settings, simulation_json_path
from reconbench.datasets.simulated.settings import (
    KNOBS,
    apply_settings,
    check_settings,
    dataset_name,
    parse_value,
    preset_value,
    split_name,
)
from reconbench.datasets.simulated.simulate import PRESETS, simulate


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize(
    "knob, value, field",
    [
        ("snr", 0.01, "noise.snr"),
        ("training_reps", 2, "training_reps"),
        ("test_reps", 3, "test_reps"),
        ("training_per_category", 4, "training_per_category"),
        ("test_categories", "seen", "test_categories"),
        ("category_surface", 1.0, "category_surface"),
    ],
)
def test_a_setting_changes_its_knob_and_nothing_else(knob, value, field) -> None:
    base = PRESETS["default"]
    changed = apply_settings(base, {knob: value})
    before, after = _flatten(asdict(base)), _flatten(asdict(changed))
    assert {k for k in before if before[k] != after[k]} == {field}
    assert after[field] == value
    assert preset_value(changed, knob) == value


@pytest.mark.parametrize(
    "settings_, message",
    [
        ({"snr": 0.0}, "snr must be a finite number >= 1e-06"),
        ({"snr": float("nan")}, "snr must be"),
        ({"training_reps": 1.5}, "whole number"),
        ({"training_reps": 0}, "training_reps must be a finite number >= 1"),
        ({"n_voxels": 3}, "unknown simulator setting 'n_voxels'"),
        ({"snr": "0.1"}, "must be a number"),
        ({"test_reps": True}, "must be a number"),
        ({"test_categories": "all"}, "test_categories must be one of unseen, seen"),
        ({"training_per_category": 0}, "training_per_category must be a finite number >= 1"),
        ({"category_surface": 1.5}, "category_surface must be <= 1.0"),
        ({"category_surface": -0.1}, "category_surface must be a finite number >= 0.0"),
    ],
)
def test_invalid_settings_are_refused_naming_the_knob(settings_, message) -> None:
    with pytest.raises(ReconbenchError, match=message):
        check_settings(settings_)


def test_values_parse_from_text_with_clear_errors() -> None:
    assert parse_value("snr", " 0.02 ") == 0.02
    assert parse_value("training_reps", "2") == 2 and isinstance(parse_value("training_reps", "2.0"), int)
    with pytest.raises(ReconbenchError, match="snr: 'abc' is not a number"):
        parse_value("snr", "abc")
    with pytest.raises(ReconbenchError, match="whole number"):
        parse_value("test_reps", "2.5")


@settings(max_examples=200, deadline=None)
@given(
    snr=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
    reps=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
)
def test_dataset_names_round_trip_exactly(snr, reps) -> None:
    values = {"snr": snr} if reps is None else {"training_reps": reps, "snr": snr}
    name = dataset_name("default", values)
    base, parsed = split_name(name)
    assert base == "simulated:default"
    assert parsed == values and all(type(parsed[k]) is type(values[k]) for k in values)
    assert list(parsed) == sorted(values)  # canonical order: by name
    assert get_dataset(name).settings == parsed


def test_names_have_one_canonical_spelling_and_the_catalog_checks_them() -> None:
    assert dataset_name("tiny") == "simulated:tiny" and split_name("simulated:tiny") == ("simulated:tiny", {})
    with pytest.raises(ReconbenchError, match=r"not in canonical form; write it as simulated:tiny@snr=0\.1"):
        split_name("simulated:tiny@snr=.1")
    with pytest.raises(ReconbenchError, match="write it as simulated:tiny@snr=0.1,test_reps=2"):
        split_name("simulated:tiny@test_reps=2,snr=0.1")
    with pytest.raises(ReconbenchError, match="given twice"):
        split_name("simulated:tiny@snr=0.1,snr=0.2")
    with pytest.raises(ReconbenchError, match="name=value"):
        split_name("simulated:tiny@snr")
    with pytest.raises(ReconbenchError, match="apply to simulated datasets only"):
        get_dataset("ds001506@snr=0.1")
    with pytest.raises(ReconbenchError, match="unknown dataset"):
        get_dataset("simulated:huge@snr=0.1")
    point = get_dataset("simulated:tiny@snr=0.1")
    assert point.preset == "tiny" and point.evaluation_size == get_dataset("simulated:tiny").evaluation_size
    assert set(KNOBS) == {"snr", "training_reps", "test_reps", "training_per_category", "test_categories", "category_surface"}
    assert split_name("simulated:tiny@test_categories=seen") == ("simulated:tiny", {"test_categories": "seen"})
    with pytest.raises(ReconbenchError, match="must be one of unseen, seen"):
        split_name("simulated:tiny@test_categories=maybe")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_snr_point_shares_the_stimuli_and_changes_only_the_measurement(tiny_data_dir, tmp_path) -> None:
    point = simulate("tiny", tmp_path / "point", seed=0, settings={"snr": 0.32})
    base = tiny_data_dir
    # The preset's own folder records no settings; the point records them and the changed knob.
    assert simulated_settings(base) == {} and "settings" not in json.loads(simulation_json_path(base).read_text())
    info = json.loads(simulation_json_path(point).read_text())
    assert info["settings"] == {"snr": 0.32} and info["knobs"]["noise"]["snr"] == 0.32
    # Same stimuli (images and tables), so every point is scored on the same test images.
    for png in sorted((base / "stimuli").rglob("*.png")):
        assert _sha(png) == _sha(point / png.relative_to(base))
    for table in sorted(base.glob("stimulus_*.tsv")):
        assert table.read_bytes() == (point / table.name).read_bytes()
    # Same trial design (runs and labels), different voxel responses.
    name = "sub-01_perceptionNaturalImageTest_original_VC.h5"
    with h5py.File(base / name, "r") as a, h5py.File(point / name, "r") as b:
        da, db = a["dataset"][()], b["dataset"][()]
    assert da.shape == db.shape and np.array_equal(da[:, -3:], db[:, -3:])
    assert not np.allclose(da[:, :-3], db[:, :-3])
    # 16x the SNR gives better-separated test images: the split-half reliability of test-image responses rises.
    assert _split_half(point / name) > _split_half(base / name)
    # The folder is refused under its preset's plain name, and the error says the name to use.
    with pytest.raises(ReconbenchError, match=r"use --dataset simulated:tiny@snr=0\.32"):
        get_dataset("simulated:tiny").check_folder(point)
    get_dataset("simulated:tiny@snr=0.32").check_folder(point)


def test_a_category_surface_point_changes_only_the_surfaces_of_natural_images(tiny_data_dir, tmp_path) -> None:
    """The calibration knob redraws the surfaces that flip and nothing else: same outlines, poses and background
    noise (so some natural images stay byte-identical), same shapes and letters, same design, same voxel tuning."""
    point = simulate("tiny", tmp_path / "point", seed=0, settings={"category_surface": 0.0})
    base = tiny_data_dir
    info = json.loads(simulation_json_path(point).read_text())
    assert info["settings"] == {"category_surface": 0.0} and info["knobs"]["category_surface"] == 0.0
    assert json.loads(simulation_json_path(base).read_text())["knobs"]["category_surface"] == PRESETS["tiny"].category_surface == 0.25
    same = {}
    for png in sorted((base / "stimuli").rglob("*.png")):
        same[png.relative_to(base)] = _sha(png) == _sha(point / png.relative_to(base))
    for session in ("ArtificialImage", "LetterImage"):
        assert all(v for k, v in same.items() if k.parts[1] == session)
    natural = [v for k, v in same.items() if k.parts[1].startswith("Natural")]
    # An image keeps its pixels when none of its three groups followed the category at 0.25: 0.75^3 of them.
    assert 0.25 < np.mean(natural) < 0.6
    for table in sorted(base.glob("stimulus_*.tsv")):
        assert table.read_bytes() == (point / table.name).read_bytes()
    with np.load(base / "ground_truth" / "sub-01_encoding.npz") as a, np.load(point / "ground_truth" / "sub-01_encoding.npz") as b:
        for key in a.files:
            if key not in ("signal_mean", "signal_std"):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    get_dataset("simulated:tiny@category_surface=0.0").check_folder(point)


def _split_half(path) -> float:
    """Median voxel correlation between the mean responses of odd and even repetitions to each test image."""
    with h5py.File(path, "r") as f:
        data = f["dataset"][()]
    voxels, labels = data[:, :-3], data[:, -1]
    ids = np.unique(labels)
    odd = np.stack([voxels[labels == i][0::2].mean(0) for i in ids])
    even = np.stack([voxels[labels == i][1::2].mean(0) for i in ids])
    odd, even = odd - odd.mean(0), even - even.mean(0)
    r = (odd * even).sum(0) / np.sqrt((odd**2).sum(0) * (even**2).sum(0))
    return float(np.median(r[np.isfinite(r)]))
