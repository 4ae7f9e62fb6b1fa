"""The ds001506 loader against bdpy's own reading, numpy/scipy/pandas references and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import bdpy
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from PIL import Image

from reconbench.core.errors import DataError
from reconbench.core.images import resize
from reconbench.core.types import ALL_ROIS, BASE_ROIS
from reconbench.datasets.ds001506.check import check_data
from reconbench.datasets.ds001506.loader import (
    SESSIONS,
    average_repetitions,
    center_crop_square,
    default_image_size,
    list_subjects,
    load_subject,
    natural_image_id,
    read_session,
    read_stimulus_table,
    session_file,
)
from tests.data.bdata_files import (
    ARTIFICIAL_NAMES,
    LETTER_NAMES,
    TEST_NATURAL,
    TRAIN_NATURAL,
    build_dataset,
    natural_name,
    session_specs,
    write_session_file,
)


@pytest.fixture(scope="module")
def real_layout(tmp_path_factory):
    """A hand-built dataset in the 2019 file layout (two subjects)."""
    return build_dataset(tmp_path_factory.mktemp("real") / "ds", subjects=("sub-01", "sub-02"))


def reference_zscored(path: Path, selector: str) -> np.ndarray:
    """Columns chosen by bdpy's select(), z-scored within each run with scipy (population std)."""
    bdata = bdpy.BData(str(path))
    x = bdata.select(selector)
    runs = bdata.select("Run")[:, 0]
    out = np.empty_like(x)
    for run in np.unique(runs):
        out[runs == run] = scipy.stats.zscore(x[runs == run], axis=0, ddof=0)
    return out


# --- ids -------------------------------------------------------------------


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


# --- the 2019 layout against bdpy ----------------------------------------


def test_list_subjects_and_session_files(real_layout):
    assert list_subjects(real_layout.root) == ["sub-01", "sub-02"]
    for session in SESSIONS:
        assert session_file(real_layout.root, "sub-01", session) == real_layout.files["sub-01"][session]


@pytest.mark.parametrize("session", list(SESSIONS))
def test_read_session_matches_bdpy_and_scipy(real_layout, session):
    path = real_layout.files["sub-01"][session]
    table_path = real_layout.root / "stimuli" / f"stimulus_{session}.tsv"
    table = read_stimulus_table(table_path) if table_path.exists() else None
    data = read_session(path, session, table=table)
    bdata = bdpy.BData(str(path))

    for roi in BASE_ROIS + ("LVC", "HVC", "VC"):
        expected = reference_zscored(path, f"ROI_{roi} = 1")
        np.testing.assert_allclose(data.fmri[roi], expected, rtol=1e-5, atol=1e-5, err_msg=roi)
        assert data.fmri[roi].dtype == np.float32
    np.testing.assert_array_equal(data.runs, bdata.select("Run")[:, 0].astype(int))

    # Ids: the second Label column, named independently of the loader.
    spec = session_specs()[session]
    name_of_value = {"%f" % v: n for n, v in zip(spec.names, spec.label_values)}
    expected_ids = [name_of_value["%f" % v] for v in bdata.select("Label")[:, 1]]
    assert list(data.stimulus_ids) == expected_ids


def test_zscoring_removes_run_offsets(real_layout):
    data = read_session(real_layout.files["sub-01"]["NaturalImageTraining"], "NaturalImageTraining")
    for run in np.unique(data.runs):
        block = data.fmri["VC"][data.runs == run].astype(np.float64)
        np.testing.assert_allclose(block.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(block.std(axis=0), 1.0, atol=1e-4)


def test_runs_restarting_per_scan_session(tmp_path):
    path = tmp_path / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(2), runs_per_scan_session=2)
    data = read_session(path, "NaturalImageTest")
    bdata = bdpy.BData(str(path))
    x = bdata.select("ROI_VC = 1")
    frame = pd.DataFrame({"session": bdata.select("Session")[:, 0], "run": bdata.select("Run")[:, 0]})
    assert frame.groupby("session")["run"].min().tolist() == [1, 1]  # run numbers repeat across scan sessions
    expected = np.empty_like(x)
    for _, rows in frame.groupby(["session", "run"]).groups.items():
        expected[rows] = scipy.stats.zscore(x[rows], axis=0)
    np.testing.assert_allclose(data.fmri["VC"], expected, rtol=1e-5, atol=1e-5)


def test_average_repetitions_matches_pandas(real_layout):
    data = read_session(real_layout.files["sub-01"]["NaturalImageTest"], "NaturalImageTest")
    ids, averaged, counts = average_repetitions(data.fmri, data.stimulus_ids)
    frame = pd.DataFrame(data.fmri["V1"].astype(np.float64))
    frame["id"] = data.stimulus_ids
    expected = frame.groupby("id").mean()
    assert list(ids) == list(expected.index)
    np.testing.assert_allclose(averaged["V1"], expected.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(counts, frame.groupby("id").size().to_numpy())
    assert set(counts) == {6}


def test_load_subject_images_cropped_and_resized(real_layout):
    subject = load_subject(real_layout.root, "sub-01", image_size=10)
    expected_ids = {natural_name(*p) for p in TRAIN_NATURAL + TEST_NATURAL} | set(ARTIFICIAL_NAMES) | set(LETTER_NAMES)
    assert set(subject.images) == expected_ids
    for stimulus_id in (natural_name(*TRAIN_NATURAL[0]), natural_name(*TEST_NATURAL[0]), ARTIFICIAL_NAMES[0], LETTER_NAMES[0]):
        # Reference crop with PIL on the 20 x 14 file: the central 14 x 14 square.
        with Image.open(real_layout.image_files[stimulus_id]) as im:
            cropped = np.asarray(im.convert("RGB").crop((3, 0, 17, 14)), dtype=np.float32) / 255.0
        expected = resize(cropped.transpose(2, 0, 1)[None], 10)[0]
        np.testing.assert_allclose(subject.images[stimulus_id], expected, atol=1e-6)
        assert subject.images[stimulus_id].shape == (3, 10, 10)
        assert subject.image_paths[stimulus_id] == real_layout.image_files[stimulus_id]


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


def test_root_from_environment(real_layout, monkeypatch):
    monkeypatch.setenv("RECONBENCH_DATA", str(real_layout.root))
    assert list_subjects(None) == ["sub-01", "sub-02"]


# --- other layouts -------------------------------------------------------


def test_v2_files_id_in_a_later_label_column(tmp_path):
    built = build_dataset(tmp_path / "v2", style="v2")
    subject = load_subject(built.root, "sub-01", image_size=4)
    for session, spec in session_specs().items():
        path = built.files["sub-01"][session]
        assert path.name.endswith("_original_VC_v2.h5")
        labels = bdpy.BData(str(path)).select("Label")
        assert labels.shape[1] == 3
        name_of_value = {"%f" % v: n for n, v in zip(spec.names, spec.label_values)}
        assert list(subject.sessions[session].stimulus_ids) == [name_of_value["%f" % v] for v in labels[:, 2]]


def test_stimulus_name_value_map(tmp_path):
    built = build_dataset(tmp_path / "vmap", style="vmap")
    subject = load_subject(built.root, "sub-01", image_size=4)
    for session in SESSIONS:
        bdata = bdpy.BData(str(built.files["sub-01"][session]))
        expected = [name.removesuffix(".JPEG") for name in bdata.get_labels("stimulus_name")]
        assert list(subject.sessions[session].stimulus_ids) == expected


def test_hv4_key_and_unions_from_base_rois(tmp_path):
    path = tmp_path / "sub-01_perceptionLetterImage_original_VC.h5"
    spec = session_specs()["LetterImage"]
    write_session_file(path, spec, np.random.default_rng(1), v4_key="ROI_hV4", union_keys=False)
    table = tmp_path / "stimulus_LetterImage.tsv"
    table.write_text("".join(f"{n}\t{v:f}\t0\t{k}\n" for k, (n, v) in enumerate(zip(spec.names, spec.label_values), 1)))
    data = read_session(path, "LetterImage", table=read_stimulus_table(table))
    np.testing.assert_allclose(data.fmri["V4"], reference_zscored(path, "ROI_hV4 = 1"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.fmri["LVC"], reference_zscored(path, "ROI_V1 = 1 | ROI_V2 = 1 | ROI_V3 = 1"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.fmri["HVC"], reference_zscored(path, "ROI_LOC = 1 | ROI_FFA = 1 | ROI_PPA = 1"), rtol=1e-5, atol=1e-5)
    assert data.fmri["VC"].shape[1] == sum(data.fmri[r].shape[1] for r in BASE_ROIS)


def test_tables_in_root_are_found(tmp_path):
    built = build_dataset(tmp_path / "ds", tables_in_stimuli=False)
    subject = load_subject(built.root, "sub-01", image_size=4, sessions=["ArtificialImage"])
    assert sorted(set(subject.sessions["ArtificialImage"].stimulus_ids)) == sorted(ARTIFICIAL_NAMES)


def test_check_data_prints_summary(real_layout, capsys):
    check_data(real_layout.root)
    out = capsys.readouterr().out
    for text in ("sub-01", "sub-02", "NaturalImageTraining", "LetterImage", "V1", "PPA", "every label has one stimulus image"):
        assert text in out
    # 12 training stimuli x 4 repetitions = 48 trials.
    assert "48" in out


# --- the simulator's files ---------------------------------------------------


def test_loader_reads_simulated_files(tiny_data_dir):
    subjects = list_subjects(tiny_data_dir)
    assert subjects
    subject = load_subject(tiny_data_dir, subjects[0])
    assert subject.image_size == default_image_size(tiny_data_dir)
    for data in subject.sessions.values():
        bdata = bdpy.BData(str(data.path))
        for roi in ALL_ROIS:
            key = "ROI_hV4" if roi == "V4" and "ROI_V4" not in bdata.metadata.key else f"ROI_{roi}"
            if key in bdata.metadata.key:
                assert data.fmri[roi].shape == (data.n_trials, bdata.select(f"{key} = 1").shape[1])
        np.testing.assert_allclose(data.fmri["V1"], reference_zscored(data.path, "ROI_V1 = 1"), rtol=1e-4, atol=1e-4)
        assert all(str(i) in subject.images for i in data.stimulus_ids)


# --- bad input ---------------------------------------------------------------


def copy_dataset(built, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(built.root, target, ignore=shutil.ignore_patterns("reconbench_split.json"))
    return target


def test_missing_file(real_layout, tmp_path):
    root = copy_dataset(real_layout, tmp_path)
    (root / "sub-01_perceptionLetterImage_original_VC.h5").unlink()
    with pytest.raises(DataError, match=r"missing file: .*sub-01_perceptionLetterImage_original_VC\.h5"):
        load_subject(root, "sub-01", image_size=4)


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_subject(tmp_path / "nowhere", "sub-01")


def test_missing_roi_key(tmp_path):
    path = tmp_path / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(0), drop_keys=("ROI_FFA",))
    with pytest.raises(DataError, match=r"sub-01_perceptionNaturalImageTest_original_VC\.h5.*missing ROI key ROI_FFA"):
        read_session(path, "NaturalImageTest")


def test_missing_run_key(tmp_path):
    path = tmp_path / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(0), drop_keys=("Run",))
    with pytest.raises(DataError, match=r"missing key 'Run'"):
        read_session(path, "NaturalImageTest")


def test_label_without_stimulus_image(real_layout, tmp_path):
    root = copy_dataset(real_layout, tmp_path)
    missing = natural_name(*TEST_NATURAL[1])
    (root / "stimuli" / "test" / f"{missing}.JPEG").unlink()
    with pytest.raises(DataError, match=rf"label '{missing}' in .*sub-01_perceptionNaturalImageTest_original_VC\.h5 has no stimulus image"):
        load_subject(root, "sub-01", image_size=4)


def test_two_images_with_one_stem(real_layout, tmp_path):
    root = copy_dataset(real_layout, tmp_path)
    stem = LETTER_NAMES[0]
    shutil.copy(root / "stimuli" / "LetterImage" / f"{stem}.tif", root / "stimuli" / f"{stem}.png")
    with pytest.raises(DataError, match=rf"'{stem}' .* matches several images"):
        load_subject(root, "sub-01", image_size=4)


def test_nan_voxels(tmp_path):
    path = tmp_path / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(0), nan_voxel=True)
    with pytest.raises(DataError, match=r"original_VC\.h5: 1 NaN/inf voxel values \(first at trial 1, dataset column 2"):
        read_session(path, "NaturalImageTest")


@pytest.mark.parametrize("delta", [-1, 2])
def test_metadata_columns_differ_from_dataset(tmp_path, delta):
    path = tmp_path / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(0), value_columns_delta=delta)
    with pytest.raises(DataError, match=r"original_VC\.h5: /metadata/value has shape .* but /dataset has \d+ columns"):
        read_session(path, "NaturalImageTest")


def test_truncated_file(real_layout, tmp_path):
    root = copy_dataset(real_layout, tmp_path)
    path = root / "sub-01_perceptionNaturalImageTraining_original_VC.h5"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read .*sub-01_perceptionNaturalImageTraining_original_VC\.h5 as a BData \.h5 file"):
        load_subject(root, "sub-01", image_size=4)


def test_not_hdf5(tmp_path):
    path = tmp_path / "sub-01_perceptionLetterImage_original_VC.h5"
    path.write_text("not hdf5")
    with pytest.raises(DataError, match="cannot read .* as a BData"):
        read_session(path, "LetterImage")


def test_labels_that_match_nothing(tmp_path):
    # A letter file without its stimulus table: small integer labels cannot be named.
    path = tmp_path / "sub-01_perceptionLetterImage_original_VC.h5"
    write_session_file(path, session_specs()["LetterImage"], np.random.default_rng(0))
    with pytest.raises(DataError, match=r"no label column converts to stimulus ids .*no stimulus table found"):
        read_session(path, "LetterImage")
