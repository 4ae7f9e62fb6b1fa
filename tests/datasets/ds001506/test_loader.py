"""Loading a subject: session files found, images cropped and resized, the simulator's files read alike."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reconbench.core.errors import DataError
from reconbench.core.images import resize
from reconbench.core.types import ALL_ROIS
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.ds001506.loader import default_image_size, list_subjects, session_file
from reconbench.datasets.layouts import load_held_subject
from tests.data.bdata_files import ARTIFICIAL_NAMES, LETTER_NAMES, TEST_NATURAL, TRAIN_NATURAL, bdpy_bdata, bdpy_zscored, natural_name


def test_list_subjects_and_session_files(two_subject_dataset):
    assert list_subjects(two_subject_dataset.root) == ["sub-01", "sub-02"]
    for session in SESSIONS:
        assert session_file(two_subject_dataset.root, "sub-01", session) == two_subject_dataset.files["sub-01"][session]


def test_load_subject_images_cropped_and_resized(two_subject_dataset):
    subject = load_held_subject(two_subject_dataset.root, "sub-01", image_size=10).data
    expected_ids = {natural_name(*p) for p in TRAIN_NATURAL + TEST_NATURAL} | set(ARTIFICIAL_NAMES) | set(LETTER_NAMES)
    assert set(subject.images) == expected_ids
    for stimulus_id in (natural_name(*TRAIN_NATURAL[0]), natural_name(*TEST_NATURAL[0]), ARTIFICIAL_NAMES[0], LETTER_NAMES[0]):
        # Reference crop with PIL on the 20 x 14 file: the central 14 x 14 square.
        with Image.open(two_subject_dataset.image_files[stimulus_id]) as im:
            cropped = np.asarray(im.convert("RGB").crop((3, 0, 17, 14)), dtype=np.float32) / 255.0
        expected = resize(cropped.transpose(2, 0, 1)[None], 10)[0]
        np.testing.assert_allclose(subject.images[stimulus_id], expected, atol=1e-6)
        assert subject.images[stimulus_id].shape == (3, 10, 10)
        assert subject.image_paths[stimulus_id] == two_subject_dataset.image_files[stimulus_id]


def test_root_from_environment(two_subject_dataset, monkeypatch):
    monkeypatch.setenv("RECONBENCH_DATA", str(two_subject_dataset.root))
    assert list_subjects(None) == ["sub-01", "sub-02"]


def test_loader_reads_simulated_files(tiny_data_dir):
    subjects = list_subjects(tiny_data_dir)
    assert subjects
    subject = load_held_subject(tiny_data_dir, subjects[0]).data
    assert subject.image_size == default_image_size(tiny_data_dir)
    for data in subject.sessions.values():
        bdata = bdpy_bdata(data.path)
        for roi in ALL_ROIS:
            key = "ROI_hV4" if roi == "V4" and "ROI_V4" not in bdata.metadata.key else f"ROI_{roi}"
            if key in bdata.metadata.key:
                assert data.fmri[roi].shape == (data.n_trials, bdata.select(f"{key} = 1").shape[1])
        np.testing.assert_allclose(data.fmri["V1"], bdpy_zscored(data.path, "ROI_V1 = 1"), rtol=1e-4, atol=1e-4)
        assert all(str(i) in subject.images for i in data.stimulus_ids)


def test_missing_file(dataset_copy):
    root = dataset_copy
    (root / "sub-01_perceptionLetterImage_original_VC.h5").unlink()
    with pytest.raises(DataError, match=r"missing file: .*sub-01_perceptionLetterImage_original_VC\.h5"):
        load_held_subject(root, "sub-01", image_size=4, sessions=SESSIONS)


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_held_subject(tmp_path / "nowhere", "sub-01")
