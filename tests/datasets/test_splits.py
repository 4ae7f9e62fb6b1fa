"""Fixed splits: contents against independent references, leak-freedom, the manifest."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from reconbench.core import types as bench_types
from reconbench.core.errors import DataError
from reconbench.core.types import TEST_SETS
from reconbench.datasets import splits as splits_module
from reconbench.datasets.ds001506.loader import natural_image_id
from reconbench.datasets.splits import (
    MANIFEST_NAME,
    build_split_manifest,
    cached_manifest_path,
    load_split,
    read_split_manifest,
    validation_ids,
    write_split_manifest,
)
from tests.data.bdata_files import (
    ARTIFICIAL_NAMES,
    TEST_NATURAL,
    TRAIN_NATURAL,
    bdpy_bdata,
    build_dataset,
    natural_name,
    session_specs,
    write_session_file,
)


@pytest.fixture(scope="module")
def split(two_subject_dataset):
    return load_split(two_subject_dataset.root, "sub-01", image_size=8)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- validation rule -------------------------------------------------------


def test_validation_fold_is_order_free_and_matches_sha256_rule():
    ids = [f"n{k:08d}_{k % 7}" for k in range(1, 201)]
    chosen = validation_ids(ids)
    assert chosen == validation_ids(reversed(ids)) == validation_ids(ids + ids)
    assert len(chosen) == math.ceil(0.1 * 200)
    # Independent statement of the rule.
    digests = sorted((hashlib.sha256(("reconbench-validation-v1:" + i).encode()).hexdigest(), i) for i in ids)
    assert chosen == sorted(i for _, i in digests[:20])
    # Membership of the first ids does not change when unrelated ids are added beyond them.
    assert validation_ids(["a"]) == []
    assert len(validation_ids(["a", "b"])) == 1


# --- split contents ----------------------------------------------------------


def test_train_part(split, two_subject_dataset):
    train = split.train
    expected_ids = sorted(natural_name(*p) for p in TRAIN_NATURAL)
    assert list(train.stimulus_ids) == expected_ids
    assert train.images.shape == (len(expected_ids), 3, 8, 8) and train.images.dtype == np.float32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0

    # Each trial's image row is that trial's stimulus according to bdpy's Label column.
    path = two_subject_dataset.files["sub-01"]["NaturalImageTraining"]
    bdata = bdpy_bdata(path)
    trial_ids = [natural_image_id(v) for v in bdata.select("Label")[:, 1]]
    assert [train.stimulus_ids[i] for i in train.trial_image_index] == trial_ids
    assert train.n_trials == len(trial_ids) == 48  # all 4 repetitions kept

    # fMRI: bdpy selection z-scored per run with scipy.
    x = bdata.select("ROI_LVC = 1")
    runs = bdata.select("Run")[:, 0]
    np.testing.assert_array_equal(train.runs, runs.astype(int))
    for run in np.unique(runs):
        x[runs == run] = scipy.stats.zscore(x[runs == run], axis=0)
    np.testing.assert_allclose(train.fmri["LVC"], x, rtol=1e-5, atol=1e-5)

    # Validation: a per-stimulus mask following the rule.
    assert train.validation_mask.dtype == bool and train.validation_mask.shape == (12,)
    assert list(train.stimulus_ids[train.validation_mask]) == validation_ids(expected_ids)
    assert train.validation_mask.sum() == 2


def test_test_inputs_are_averaged_and_carry_no_images(split, two_subject_dataset):
    specs = session_specs()
    sessions = {"natural": "NaturalImageTest", "shapes": "ArtificialImage", "letters": "LetterImage"}
    assert set(split.test_inputs) == set(TEST_SETS)
    for name, session in sessions.items():
        test_input = split.test_inputs[name]
        assert isinstance(test_input, bench_types.TestInput)
        assert test_input.oracle_images is None
        assert not any(isinstance(v, np.ndarray) and v.ndim == 4 for v in vars(test_input).values())
        assert sorted(test_input.stimulus_ids) == sorted(specs[session].names)

        # Reference: bdpy selection, scipy z-score per run, pandas mean per id.
        path = two_subject_dataset.files["sub-01"][session]
        bdata = bdpy_bdata(path)
        x = bdata.select("ROI_HVC = 1")
        runs = bdata.select("Run")[:, 0]
        for run in np.unique(runs):
            x[runs == run] = scipy.stats.zscore(x[runs == run], axis=0)
        name_of_value = {"%f" % v: n for n, v in zip(specs[session].names, specs[session].label_values)}
        frame = pd.DataFrame(x)
        frame["id"] = [name_of_value["%f" % v] for v in bdata.select("Label")[:, 1]]
        expected = frame.groupby("id").mean().loc[list(test_input.stimulus_ids)].to_numpy()
        np.testing.assert_allclose(test_input.fmri["HVC"], expected, rtol=1e-5, atol=1e-5)

        ids, images = split.test_images[name]
        assert list(ids) == list(test_input.stimulus_ids)
        assert images.shape == (len(ids), 3, 8, 8)


def test_no_test_stimulus_in_train(split):
    train_ids = set(split.train.stimulus_ids)
    train_pixels = {img.tobytes() for img in split.train.images}
    for name, (ids, images) in split.test_images.items():
        assert not train_ids & set(ids), name
        assert not any(img.tobytes() in train_pixels for img in images), name


def test_split_for_a_subset_of_test_sets(dataset_copy):
    root = dataset_copy
    (root / "sub-01_perceptionLetterImage_original_VC.h5").unlink()
    # Sessions as held: without a test set named, the ones present are loaded ...
    assert set(load_split(root, "sub-01", image_size=4).test_inputs) == {"natural", "shapes"}
    # ... but a test set asked for by name must be there.
    with pytest.raises(DataError, match="missing file: .*sub-01_perceptionLetterImage"):
        load_split(root, "sub-01", image_size=4, test_sets=["letters"])
    partial = load_split(root, "sub-01", image_size=4, test_sets=["natural", "shapes"])
    assert set(partial.test_inputs) == {"natural", "shapes"}
    with pytest.raises(DataError, match="unknown test set 'faces'"):
        load_split(root, "sub-01", test_sets=["faces"])


# --- leaks are refused -------------------------------------------------------


def test_test_id_in_train_is_refused(tmp_path):
    built = build_dataset(tmp_path / "leak")
    # Rewrite the natural test session so that one test stimulus is a training stimulus.
    spec = session_specs()["NaturalImageTest"]
    spec.names[0] = natural_name(*TRAIN_NATURAL[0])
    spec.label_values[0] = float("%d.%06d" % TRAIN_NATURAL[0])
    write_session_file(built.files["sub-01"]["NaturalImageTest"], spec, np.random.default_rng(3))
    with pytest.raises(DataError, match=rf"test stimulus '{natural_name(*TRAIN_NATURAL[0])}' \(natural\) is also a training stimulus"):
        load_split(built.root, "sub-01", image_size=4)


def test_identical_test_image_is_refused(tmp_path):
    built = build_dataset(tmp_path / "leak")
    shutil.copy(built.image_files[natural_name(*TRAIN_NATURAL[2])], built.image_files[ARTIFICIAL_NAMES[1]])
    with pytest.raises(DataError, match=rf"test image '{ARTIFICIAL_NAMES[1]}' \(shapes.* is identical to training image '{natural_name(*TRAIN_NATURAL[2])}'"):
        load_split(built.root, "sub-01", image_size=4)


# --- manifest ----------------------------------------------------------------


def test_manifest_written_on_first_load_records_ids_and_hashes(split, two_subject_dataset):
    path = two_subject_dataset.root / MANIFEST_NAME
    assert path.is_file()
    manifest = json.loads(path.read_text())
    subject = manifest["subjects"]["sub-01"]
    assert subject["train"] == sorted(natural_name(*p) for p in TRAIN_NATURAL)
    assert subject["validation"] == validation_ids(subject["train"])
    assert subject["test"]["natural"] == sorted(natural_name(*p) for p in TEST_NATURAL)
    assert subject["test"]["shapes"] == sorted(ARTIFICIAL_NAMES)
    for session, file_path in two_subject_dataset.files["sub-01"].items():
        assert subject["sessions"][session]["sha256"] == sha256_file(file_path)
        assert subject["sessions"][session]["file"] == file_path.name
    for stimulus_id, image_path in two_subject_dataset.image_files.items():
        assert manifest["stimuli"][stimulus_id]["sha256"] == sha256_file(image_path)
    body = {k: v for k, v in manifest.items() if k != "overall_sha256"}
    assert manifest["overall_sha256"] == hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert split.manifest["overall_sha256"] == manifest["overall_sha256"]
    assert "sub-02" in manifest["subjects"]


def test_manifest_is_the_same_on_another_machine(tmp_path):
    # Same data in two folders (another path, another build time): same overall hash.
    first = write_split_manifest(build_dataset(tmp_path / "machine_a").root)
    second = write_split_manifest(build_dataset(tmp_path / "elsewhere" / "machine_b").root)
    assert read_split_manifest(first)["overall_sha256"] == read_split_manifest(second)["overall_sha256"]
    assert first.read_bytes() == second.read_bytes()


def test_changed_h5_file_is_named(two_subject_dataset, tmp_path):
    root = tmp_path / "changed"
    shutil.copytree(two_subject_dataset.root, root)
    assert (root / MANIFEST_NAME).is_file()
    write_session_file(root / "sub-01_perceptionArtificialImage_original_VC.h5", session_specs()["ArtificialImage"], np.random.default_rng(99))
    with pytest.raises(DataError, match=r"split of sub-01 differs from manifest .*sub-01_perceptionArtificialImage_original_VC\.h5: sha256"):
        load_split(root, "sub-01", image_size=4)


def test_changed_image_is_named(two_subject_dataset, tmp_path):
    root = tmp_path / "changed"
    shutil.copytree(two_subject_dataset.root, root)
    target = root / two_subject_dataset.image_files[ARTIFICIAL_NAMES[0]].relative_to(two_subject_dataset.root)
    from PIL import Image

    Image.new("RGB", (20, 14), (1, 2, 3)).save(target)
    with pytest.raises(DataError, match=rf"stimulus image '{ARTIFICIAL_NAMES[0]}' .*sha256 .* differs"):
        load_split(root, "sub-01", image_size=4)


def test_edited_manifest_is_refused(two_subject_dataset, tmp_path):
    root = tmp_path / "edited"
    shutil.copytree(two_subject_dataset.root, root)
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    manifest["subjects"]["sub-01"]["validation"] = manifest["subjects"]["sub-01"]["train"][:5]
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="was edited"):
        load_split(root, "sub-01", image_size=4)


def test_manifest_goes_to_cache_when_folder_is_read_only(dataset_copy, tmp_path, monkeypatch):
    root = dataset_copy
    monkeypatch.setenv("RECONBENCH_CACHE", str(tmp_path / "cache"))
    real_write = splits_module.write_text

    def write_text(target, text):
        if Path(target).parent == root:
            raise PermissionError(13, "Permission denied", str(target))
        real_write(target, text)

    # The test runs as root, where chmod does not stop writes: simulate the refusal.
    monkeypatch.setattr(splits_module, "write_text", write_text)
    with pytest.warns(UserWarning, match="not writable"):
        split = load_split(root, "sub-02", image_size=4)
    cached = cached_manifest_path(root)
    assert cached.is_file() and not (root / MANIFEST_NAME).exists()
    assert split.manifest["path"] == str(cached)
    assert read_split_manifest(cached)["overall_sha256"] == build_split_manifest(root)["overall_sha256"]
    load_split(root, "sub-02", image_size=4)  # second load checks against the cached copy


def test_manifest_on_simulated_data(tiny_data_dir):
    # The simulator writes the manifest before its final rename; loading checks it.
    from reconbench.datasets.ds001506.loader import list_subjects

    assert (tiny_data_dir / MANIFEST_NAME).is_file()
    subject = list_subjects(tiny_data_dir)[0]
    split = load_split(tiny_data_dir, subject)
    assert split.manifest["overall_sha256"] == read_split_manifest(tiny_data_dir / MANIFEST_NAME)["overall_sha256"]
    assert not set(split.train.stimulus_ids) & set().union(*(set(ids) for ids, _ in split.test_images.values()))
    assert split.train.validation_mask.any() and not split.train.validation_mask.all()


def test_failed_manifest_leaves_nothing_behind(tmp_path):
    built = build_dataset(tmp_path / "broken")
    built.image_files[ARTIFICIAL_NAMES[2]].unlink()
    before = sorted(p.name for p in built.root.iterdir())
    with pytest.raises(DataError, match=rf"label '{ARTIFICIAL_NAMES[2]}' in .*ArtificialImage.* has no stimulus image"):
        write_split_manifest(built.root)
    with pytest.raises(DataError, match="has no stimulus image"):
        load_split(built.root, "sub-01", image_size=4)
    assert sorted(p.name for p in built.root.iterdir()) == before  # no manifest, no temporary file


# --- extra (unlabelled) images ----------------------------------------------


def _add_extra_images(root: Path, count: int, seed: int = 0) -> list[Path]:
    from PIL import Image

    folder = root / "extra_images"
    folder.mkdir()
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"unlabelled_{i}.png"
        Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def test_extra_images_are_recorded_and_loaded(tmp_path):
    built = build_dataset(tmp_path / "extra")
    paths = _add_extra_images(built.root, 3)
    split = load_split(built.root, "sub-01", image_size=6)
    manifest = read_split_manifest(built.root / MANIFEST_NAME)
    assert manifest["extra_images"] == {p.name: sha256_file(p) for p in paths}
    extra = split.train.extra_images
    assert extra.shape == (3, 3, 6, 6) and extra.dtype == np.float32
    # At the images' own height no resize happens: the pixels are PIL's, centre-cropped 12x16 -> 12x12.
    from PIL import Image

    native = load_split(built.root, "sub-01", image_size=12).train.extra_images
    with Image.open(paths[1]) as image:
        reference = np.asarray(image.convert("RGB"), dtype=np.float64)[:, 2:14].transpose(2, 0, 1) / 255
    np.testing.assert_allclose(native[1], reference, atol=1e-6)
    assert load_split(built.root, "sub-01", image_size=6, extra_images=False).train.extra_images is None


def test_dataset_without_extra_images_has_none(split, two_subject_dataset):
    assert split.train.extra_images is None
    assert "extra_images" not in read_split_manifest(two_subject_dataset.root / MANIFEST_NAME)


def test_added_or_changed_extra_image_is_named(tmp_path):
    built = build_dataset(tmp_path / "extra")
    paths = _add_extra_images(built.root, 2)
    load_split(built.root, "sub-01", image_size=4)
    from PIL import Image

    Image.new("RGB", (8, 8), (9, 9, 9)).save(paths[0])
    with pytest.raises(DataError, match=r"extra image extra_images/unlabelled_0\.png: sha256 .* differs"):
        load_split(built.root, "sub-01", image_size=4)
    paths[0].unlink()
    shutil.copy(paths[1], built.root / "extra_images" / "new.png")
    with pytest.raises(DataError, match=r"extra_images/: 1 file\(s\) in the manifest not in the folder .*unlabelled_0\.png.*1 new file\(s\) .*new\.png"):
        load_split(built.root, "sub-01", image_size=4)
    # Loading without extra images does not look at the folder.
    assert load_split(built.root, "sub-01", image_size=4, extra_images=False).train.extra_images is None


def test_extra_image_equal_to_a_test_image_is_refused(tmp_path):
    built = build_dataset(tmp_path / "extra")
    (built.root / "extra_images").mkdir()
    shutil.copy(built.image_files[ARTIFICIAL_NAMES[3]], built.root / "extra_images" / "copy.png")
    with pytest.raises(DataError, match=rf"extra image .*copy\.png is identical to test image '{re.escape(ARTIFICIAL_NAMES[3])}' \(shapes"):
        load_split(built.root, "sub-01", image_size=4)
