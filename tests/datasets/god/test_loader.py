"""The GOD (ds001246) layout: hand-built h5py files and the simulator's GOD layout, against bdpy and scipy."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import scipy.stats

from reconbench.core.errors import DataError, ReconbenchError
from reconbench.datasets.catalog import get_dataset
from reconbench.datasets.check import check_data
from reconbench.datasets.god.loader import list_subjects, read_subject
from reconbench.datasets.layouts import detect_layout, load_held_subject
from reconbench.datasets.splits import MANIFEST_NAME, load_split
from tests.data.bdata_files import bdpy_bdata, build_dataset, write_image
from tests.data.god_files import GOD_TEST, GOD_TRAIN, build_god, write_mat_copy


@pytest.fixture(scope="module")
def god(tmp_path_factory):
    return build_god(tmp_path_factory.mktemp("god") / "GOD", subjects=("Subject1", "Subject2"))


def reference_session(path, datatype: int, selector: str) -> np.ndarray:
    """bdpy's columns for one DataType, z-scored within each run with scipy (population std)."""
    bdata = bdpy_bdata(path)
    rows = bdata.select("DataType")[:, 0] == datatype
    x = bdata.select(selector)[rows]
    runs = bdata.select("Run")[rows, 0]
    out = np.empty_like(x)
    for run in np.unique(runs):
        out[runs == run] = scipy.stats.zscore(x[runs == run], axis=0, ddof=0)
    return out


def test_hand_built_files_have_the_real_layout(god):
    with h5py.File(god.files["Subject1"], "r") as h5:
        assert set(h5) == {"dataset", "metadata"}  # no /header, no /vmap
    assert list_subjects(god.root) == ["Subject1", "Subject2"]
    assert detect_layout(god.root).name == "god"


@pytest.mark.parametrize("session, datatype", [("ImageNetTraining", 1), ("ImageNetTest", 2), ("Imagery", 3)])
def test_sessions_match_bdpy_and_scipy(god, session, datatype):
    data = read_subject(god.files["Subject1"], [session])[session]
    expected_ids = god.trials["Subject1"]["ids"][god.trials["Subject1"]["DataType"] == datatype]
    np.testing.assert_array_equal(data.stimulus_ids, expected_ids)
    for roi in ("V1", "FFA", "VC", "LVC"):
        np.testing.assert_allclose(data.fmri[roi], reference_session(god.files["Subject1"], datatype, f"ROI_{roi} = 1"), rtol=1e-5, atol=1e-5)


def test_label_key_as_in_the_mat_files(tmp_path):
    built = build_god(tmp_path / "GOD", label_key="Label")
    split = load_split(built.root, "Subject1", image_size=8)
    assert list(split.test_inputs["natural"].stimulus_ids) == sorted("n%08d_%d" % p for p in GOD_TEST)


def test_split_is_datatype_split_and_leak_free(god, tmp_path):
    root = tmp_path / "GOD"
    shutil.copytree(god.root, root, ignore=shutil.ignore_patterns(MANIFEST_NAME))
    split = load_split(root, "Subject1", image_size=8)
    assert set(split.test_inputs) == {"natural"}  # imagery has no images: listed, not scored
    assert list(split.train.stimulus_ids) == sorted("n%08d_%d" % p for p in GOD_TRAIN)
    assert split.train.fmri["VC"].shape[0] == len(GOD_TRAIN)  # DataType 1 trials only
    assert not set(split.train.stimulus_ids) & set(split.test_inputs["natural"].stimulus_ids)
    # Training data do not depend on the test trials: change every test voxel, reload, same training arrays.
    with h5py.File(root / "Subject1.h5", "r+") as h5:
        dataset = h5["dataset"][()]
        keys = [k.decode() for k in h5["metadata/key"][()]]
        value = h5["metadata/value"][()]
        datatype = dataset[:, value[keys.index("DataType")] == 1][:, 0]
        voxels = value[keys.index("VoxelData")] == 1
        dataset[np.ix_(datatype != 1, voxels)] *= 7.0
        dataset[np.ix_(datatype != 1, voxels)] += 3.0
        h5["dataset"][...] = dataset
    (root / MANIFEST_NAME).unlink()
    again = load_split(root, "Subject1", image_size=8)
    for roi, x in split.train.fmri.items():
        np.testing.assert_array_equal(again.train.fmri[roi], x)


def test_imagery_scored_only_with_images(god, tmp_path):
    root = tmp_path / "GOD"
    shutil.copytree(god.root, root, ignore=shutil.ignore_patterns(MANIFEST_NAME))
    rng = np.random.default_rng(5)
    write_image(root / "stimuli" / "imagery" / ("n%08d.png" % GOD_TEST[0][0]), rng)
    with pytest.raises(DataError, match=r"Imagery: 2 of 3 stimuli have no image"):
        load_held_subject(root, "Subject1", image_size=8)
    for synset, _ in GOD_TEST[1:]:
        write_image(root / "stimuli" / "imagery" / ("n%08d.png" % synset), rng)
    split = load_split(root, "Subject1", image_size=8)
    assert set(split.test_inputs) == {"natural", "imagery"}
    assert list(split.test_inputs["imagery"].stimulus_ids) == sorted("n%08d" % s for s, _ in GOD_TEST)


def test_check_lists_sessions(god, capsys):
    check_data(god.root)
    out = capsys.readouterr().out
    assert "GOD (ds001246" in out
    assert "note: Subject1: Imagery has 3 stimuli (e.g. n01443537) and no images" in out
    assert "Subject1: test sets scored: natural; absent: none" in out
    assert "every label has one stimulus image" in out


def test_missing_datatype_names_the_file(tmp_path):
    built = build_god(tmp_path / "GOD", drop_keys=("DataType",))
    with pytest.raises(DataError, match=r"Subject1\.h5: missing key 'DataType'"):
        load_split(built.root, "Subject1", image_size=8)


def test_wrong_layout_is_named(god, tmp_path):
    ds = build_dataset(tmp_path / "ds")
    with pytest.raises(ReconbenchError, match=r"--dataset ds001506 reads the ds001506 .* holds the GOD \(ds001246.*use --dataset god"):
        get_dataset("ds001506").check_folder(god.root)
    with pytest.raises(ReconbenchError, match=r"--dataset god reads the GOD .* holds the ds001506 .*use --dataset ds001506"):
        get_dataset("god").check_folder(ds.root)
    with pytest.raises(DataError, match=r"holds the GOD \(ds001246.*pass --dataset god"):
        check_data(god.root, layout="ds001506")


def test_simulated_god_layout_equals_the_ds001506_draws(tiny_data_dir, tmp_path):
    from reconbench.datasets.simulated.simulate import simulate

    root = simulate(preset="tiny", out=tmp_path / "god", seed=0, layout="god")
    assert detect_layout(root).name == "god" and list_subjects(root) == ["Subject1"]
    god_split = load_split(root, "Subject1")
    ds_split = load_split(tiny_data_dir, "sub-01")
    assert set(god_split.test_inputs) == {"natural"}
    np.testing.assert_array_equal(god_split.train.stimulus_ids, ds_split.train.stimulus_ids)
    np.testing.assert_array_equal(god_split.train.images, ds_split.train.images)
    for roi in ("V1", "HVC"):
        np.testing.assert_allclose(god_split.train.fmri[roi], ds_split.train.fmri[roi], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(god_split.test_inputs["natural"].fmri[roi], ds_split.test_inputs["natural"].fmri[roi], rtol=1e-6, atol=1e-6)
    with pytest.raises(ReconbenchError, match=r"use --dataset simulated-god:tiny"):
        get_dataset("simulated:tiny").check_folder(root)


def test_mat_file_as_the_matlab_demo_reads_it(god, tmp_path):
    """``Subject1.mat`` (BrainDecoderToolbox2 names ``dataSet`` / ``metaData``), written with scipy.io alone."""
    root = tmp_path / "GOD"
    shutil.copytree(god.root / "stimuli", root / "stimuli")
    write_mat_copy(god.files["Subject1"], root / "Subject1.mat")
    assert list_subjects(root) == ["Subject1"]
    from_mat = load_split(root, "Subject1", image_size=8)
    h5_root = tmp_path / "GOD-h5"
    shutil.copytree(god.root, h5_root, ignore=shutil.ignore_patterns(MANIFEST_NAME, "Subject2.h5"))
    from_h5 = load_split(h5_root, "Subject1", image_size=8)
    np.testing.assert_array_equal(from_mat.train.stimulus_ids, from_h5.train.stimulus_ids)
    for roi in ("V1", "VC"):
        np.testing.assert_array_equal(from_mat.train.fmri[roi], from_h5.train.fmri[roi])
        np.testing.assert_array_equal(from_mat.test_inputs["natural"].fmri[roi], from_h5.test_inputs["natural"].fmri[roi])
