"""Reading one BData session file against bdpy's own reading and scipy/pandas references, and bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from reconbench.core.errors import DataError
from reconbench.core.types import BASE_ROIS
from reconbench.datasets.ds001506.bdata import average_repetitions, read_session
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.ds001506.stimuli import read_stimulus_table
from reconbench.datasets.layouts import load_held_subject
from tests.data.bdata_files import bdpy_bdata, bdpy_zscored, build_dataset, session_specs, write_session_file


@pytest.mark.parametrize("session", list(SESSIONS))
def test_read_session_matches_bdpy_and_scipy(two_subject_dataset, session):
    path = two_subject_dataset.files["sub-01"][session]
    table_path = two_subject_dataset.root / "stimuli" / f"stimulus_{session}.tsv"
    table = read_stimulus_table(table_path) if table_path.exists() else None
    data = read_session(path, session, table=table)
    bdata = bdpy_bdata(path)

    for roi in BASE_ROIS + ("LVC", "HVC", "VC"):
        expected = bdpy_zscored(path, f"ROI_{roi} = 1")
        np.testing.assert_allclose(data.fmri[roi], expected, rtol=1e-5, atol=1e-5, err_msg=roi)
        assert data.fmri[roi].dtype == np.float32
    np.testing.assert_array_equal(data.runs, bdata.select("Run")[:, 0].astype(int))

    # Ids: the second Label column, named independently of the loader.
    spec = session_specs()[session]
    name_of_value = {"%f" % v: n for n, v in zip(spec.names, spec.label_values)}
    expected_ids = [name_of_value["%f" % v] for v in bdata.select("Label")[:, 1]]
    assert list(data.stimulus_ids) == expected_ids


def test_zscoring_removes_run_offsets(two_subject_dataset):
    data = read_session(two_subject_dataset.files["sub-01"]["NaturalImageTraining"], "NaturalImageTraining")
    for run in np.unique(data.runs):
        block = data.fmri["VC"][data.runs == run].astype(np.float64)
        np.testing.assert_allclose(block.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(block.std(axis=0), 1.0, atol=1e-4)


def test_runs_restarting_per_scan_session(tmp_path):
    path = tmp_path / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    write_session_file(path, session_specs()["NaturalImageTest"], np.random.default_rng(2), runs_per_scan_session=2)
    data = read_session(path, "NaturalImageTest")
    bdata = bdpy_bdata(path)
    x = bdata.select("ROI_VC = 1")
    frame = pd.DataFrame({"session": bdata.select("Session")[:, 0], "run": bdata.select("Run")[:, 0]})
    assert frame.groupby("session")["run"].min().tolist() == [1, 1]  # run numbers repeat across scan sessions
    expected = np.empty_like(x)
    for _, rows in frame.groupby(["session", "run"]).groups.items():
        expected[rows] = scipy.stats.zscore(x[rows], axis=0)
    np.testing.assert_allclose(data.fmri["VC"], expected, rtol=1e-5, atol=1e-5)


def test_average_repetitions_matches_pandas(two_subject_dataset):
    data = read_session(two_subject_dataset.files["sub-01"]["NaturalImageTest"], "NaturalImageTest")
    ids, averaged, counts = average_repetitions(data.fmri, data.stimulus_ids)
    frame = pd.DataFrame(data.fmri["V1"].astype(np.float64))
    frame["id"] = data.stimulus_ids
    expected = frame.groupby("id").mean()
    assert list(ids) == list(expected.index)
    np.testing.assert_allclose(averaged["V1"], expected.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(counts, frame.groupby("id").size().to_numpy())
    assert set(counts) == {6}


def test_v2_files_id_in_a_later_label_column(tmp_path):
    built = build_dataset(tmp_path / "v2", style="v2")
    subject = load_held_subject(built.root, "sub-01", image_size=4).data
    for session, spec in session_specs().items():
        path = built.files["sub-01"][session]
        assert path.name.endswith("_original_VC_v2.h5")
        labels = bdpy_bdata(path).select("Label")
        assert labels.shape[1] == 3
        name_of_value = {"%f" % v: n for n, v in zip(spec.names, spec.label_values)}
        assert list(subject.sessions[session].stimulus_ids) == [name_of_value["%f" % v] for v in labels[:, 2]]


def test_stimulus_name_value_map(tmp_path):
    built = build_dataset(tmp_path / "vmap", style="vmap")
    subject = load_held_subject(built.root, "sub-01", image_size=4).data
    for session in SESSIONS:
        bdata = bdpy_bdata(built.files["sub-01"][session])
        expected = [name.removesuffix(".JPEG") for name in bdata.get_labels("stimulus_name")]
        assert list(subject.sessions[session].stimulus_ids) == expected


def test_hv4_key_and_unions_from_base_rois(tmp_path):
    path = tmp_path / "sub-01_perceptionLetterImage_original_VC.h5"
    spec = session_specs()["LetterImage"]
    write_session_file(path, spec, np.random.default_rng(1), v4_key="ROI_hV4", union_keys=False)
    table = tmp_path / "stimulus_LetterImage.tsv"
    table.write_text("".join(f"{n}\t{v:f}\t0\t{k}\n" for k, (n, v) in enumerate(zip(spec.names, spec.label_values), 1)))
    data = read_session(path, "LetterImage", table=read_stimulus_table(table))
    np.testing.assert_allclose(data.fmri["V4"], bdpy_zscored(path, "ROI_hV4 = 1"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.fmri["LVC"], bdpy_zscored(path, "ROI_V1 = 1 | ROI_V2 = 1 | ROI_V3 = 1"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.fmri["HVC"], bdpy_zscored(path, "ROI_LOC = 1 | ROI_FFA = 1 | ROI_PPA = 1"), rtol=1e-5, atol=1e-5)
    assert data.fmri["VC"].shape[1] == sum(data.fmri[r].shape[1] for r in BASE_ROIS)


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


def test_truncated_file(dataset_copy):
    root = dataset_copy
    path = root / "sub-01_perceptionNaturalImageTraining_original_VC.h5"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read .*sub-01_perceptionNaturalImageTraining_original_VC\.h5 as a BData \.h5 file"):
        load_held_subject(root, "sub-01", image_size=4)


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
