"""Tests of ``reconbench simulate``: layout, bdpy round trip, determinism, errors and calibration."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.simulated import ground_truth
from reconbench.datasets.simulated import simulate as sim
from tests.data.bdata_files import NO_BDPY, bdpy_bdata

SESSIONS = sim.SESSIONS
ROIS = ("V1", "V2", "V3", "V4", "LOC", "FFA", "PPA")


def _hash_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_table(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def test_layout_files_exist(tiny_data_dir):
    for session in SESSIONS:
        assert (tiny_data_dir / f"sub-01_perception{session}_original_VC.h5").is_file()
        assert (tiny_data_dir / f"stimulus_{session}.tsv").is_file()
        assert (tiny_data_dir / "stimuli" / session).is_dir()
    for name in ("simulation.json", "stimuli.tsv", "sub-01_encoding.npz", "sub-01_noise_free.npz"):
        assert (tiny_data_dir / "ground_truth" / name).is_file()
    assert (tiny_data_dir / "reconbench_split.json").is_file()
    # Nothing left behind by the atomic write.
    assert not [p for p in tiny_data_dir.parent.iterdir() if p.name.startswith(".tiny")]


def test_h5_files_have_the_2019_bdata_layout(tiny_data_dir):
    path = tiny_data_dir / "sub-01_perceptionNaturalImageTraining_original_VC.h5"
    with h5py.File(path, "r") as handle:
        assert set(handle) == {"dataset", "metadata"}  # no /vmap, no /header
        assert set(handle["metadata"]) == {"key", "description", "value"}
        assert handle["dataset"].dtype == np.float64
        assert handle["metadata/key"].dtype.kind == "S"
        keys = [k.decode() for k in handle["metadata/key"][:]]
        assert handle["metadata/value"].shape == (len(keys), handle["dataset"].shape[1])
    for key in ["VoxelData", "Run", "Label", "voxel_x", "voxel_y", "voxel_z"] + [f"ROI_{r}" for r in ROIS + ("LVC", "HVC", "VC")]:
        assert key in keys


def test_bdpy_reads_rois_runs_and_labels(tiny_data_dir):
    preset = sim.PRESETS["tiny"]
    counts = preset.voxel_counts("sub-01")
    table = {row[0]: row for row in _read_table(tiny_data_dir / "stimulus_NaturalImageTraining.tsv")}
    bdata = bdpy_bdata(tiny_data_dir / "sub-01_perceptionNaturalImageTraining_original_VC.h5")
    n_trials = preset.n_training * preset.training_reps
    for roi in ROIS:
        assert bdata.select(f"ROI_{roi} = 1").shape == (n_trials, counts[roi])
    assert bdata.select("ROI_LVC = 1").shape[1] == counts["V1"] + counts["V2"] + counts["V3"]
    assert bdata.select("ROI_HVC = 1").shape[1] == counts["LOC"] + counts["FFA"] + counts["PPA"]
    assert bdata.select("ROI_VC = 1").shape[1] == sum(counts.values())
    voxels = bdata.select("VoxelData = 1")
    assert np.all(np.isfinite(voxels)) and voxels.min() > 0  # BOLD-like: baseline plus small changes

    label = bdata.get("Label")
    assert label.shape == (n_trials, 2)
    # Public ds001506 loaders read the id as Label[:, 1] and split '%f' % id at the point.
    names = ["n%08d_%d" % (int(("%f" % v).split(".")[0]), int(("%f" % v).split(".")[1])) for v in label[:, 1]]
    for name, index in zip(names, label[:, 0]):
        assert name in table and int(table[name][3]) == int(index)
        assert (tiny_data_dir / "stimuli" / "NaturalImageTraining" / f"{name}.png").is_file()
    np.testing.assert_array_equal(bdata.get("stimulus_id").ravel(), label[:, 1])
    # Every training image is shown training_reps times.
    assert set(np.unique(names, return_counts=True)[1]) == {preset.training_reps}

    runs = bdata.select("Run").ravel()
    assert set(np.unique(runs, return_counts=True)[1]) == {preset.training_per_run}
    assert runs.max() == n_trials // preset.training_per_run


def test_test_sessions_show_every_stimulus_once_per_run(tiny_data_dir):
    preset = sim.PRESETS["tiny"]
    expected = {"NaturalImageTest": (preset.n_test, preset.test_reps), "ArtificialImage": (40, preset.artificial_reps), "LetterImage": (10, preset.letter_reps)}
    for session, (n_stimuli, reps) in expected.items():
        bdata = bdpy_bdata(tiny_data_dir / f"sub-01_perception{session}_original_VC.h5")
        runs, ids = bdata.select("Run").ravel(), bdata.get("Label")[:, 1]
        assert np.unique(runs).size == reps
        for run in np.unique(runs):
            assert sorted(ids[runs == run]) == sorted(np.unique(ids)) and np.unique(ids).size == n_stimuli


def test_stimulus_tables(tiny_data_dir):
    natural = _read_table(tiny_data_dir / "stimulus_NaturalImageTraining.tsv")
    test = _read_table(tiny_data_dir / "stimulus_NaturalImageTest.tsv")
    for rows in (natural, test):
        for row in rows:
            assert len(row) == 4
            assert re.fullmatch(r"n\d{8}_\d+", row[0])
            synset, number = row[1].split(".")
            assert row[0] == "n%08d_%d" % (int(synset), int(number))
        assert [int(r[3]) for r in rows] == list(range(1, len(rows) + 1))
    assert not {r[0] for r in natural} & {r[0] for r in test}  # no test image in train
    shapes = _read_table(tiny_data_dir / "stimulus_ArtificialImage.tsv")
    assert [float(r[1]) for r in shapes] == list(range(1, 41))
    assert all(re.fullmatch(r"colorExpStim\d\d_[a-z]+_(square|smallring|largering|\+|X)", r[0]) for r in shapes)
    letters = _read_table(tiny_data_dir / "stimulus_LetterImage.tsv")
    assert [float(r[1]) for r in letters] == list(range(1, 11))
    for session, rows in (("ArtificialImage", shapes), ("LetterImage", letters)):
        for row in rows:
            assert (tiny_data_dir / "stimuli" / session / f"{row[0]}.png").is_file()


def test_stimulus_images_are_rgb_pngs_of_the_preset_size(tiny_data_dir):
    from PIL import Image

    size = sim.PRESETS["tiny"].image_size
    files = sorted((tiny_data_dir / "stimuli").rglob("*.png"))
    assert len(files) == 100 + 10 + 40 + 10
    with Image.open(files[0]) as image:
        assert image.mode == "RGB" and image.size == (size, size)
        assert not image.info.get("dpi") and "tIME" not in image.info


def _pixel_category_accuracy(root: Path) -> tuple[float, float]:
    """A 1-nearest-neighbour classifier on 16x16 pixels of the training stimuli (scikit-learn): its accuracy on
    held-out training stimuli (10-fold) and on the extra images (chance 0.1 on tiny)."""
    from PIL import Image
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    def small(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((16, 16), Image.BILINEAR), dtype=np.float64).ravel() / 255

    gt = ground_truth.load_ground_truth(root)
    train = [s for s in gt.stimuli if s.session == "NaturalImageTraining"]
    x = np.stack([small(root / "stimuli" / s.session / f"{s.name}.png") for s in train])
    y = np.array([s.category for s in train])
    held_out = cross_val_score(KNeighborsClassifier(n_neighbors=1), x, y, cv=10).mean()
    rows = _read_table(root / "ground_truth" / "extra_images.tsv")[1:]
    extra = np.stack([small(root / "extra_images" / f"{r[0]}.png") for r in rows])
    accuracy = (KNeighborsClassifier(n_neighbors=1).fit(x, y).predict(extra) == np.array([int(r[1]) for r in rows])).mean()
    return float(held_out), float(accuracy)


def test_extra_images_come_from_the_same_generator(tiny_data_dir, tmp_path):
    """Unlabelled extra images: the preset's count, distinct from every stimulus, in the training categories."""
    extra_files = sorted((tiny_data_dir / "extra_images").glob("*.png"))
    assert len(extra_files) == sim.PRESETS["tiny"].n_extra == 200
    stimulus_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tiny_data_dir / "stimuli").rglob("*.png")}
    assert not stimulus_hashes & {hashlib.sha256(p.read_bytes()).hexdigest() for p in extra_files}
    rows = _read_table(tiny_data_dir / "ground_truth" / "extra_images.tsv")
    assert rows[0] == ["name", "category"] and [r[0] + ".png" for r in rows[1:]] == [p.name for p in extra_files]
    extra_category = np.array([int(r[1]) for r in rows[1:]])
    assert np.bincount(extra_category).tolist() == [20] * 10
    # Where the surfaces follow the category (category_surface=1), pixels tell the categories apart: a pixel
    # classifier recognises the extra images' categories as well as held-out training stimuli, far above chance
    # (0.1), so the extra images are drawn like the stimuli. At the shipped calibration, the pixels say little of
    # the category (the outline carries it, and 16x16 pixels barely see the outline).
    surfaces = sim.simulate("tiny", tmp_path / "surfaces", seed=0, settings={"category_surface": 1.0})
    held_out, accuracy = _pixel_category_accuracy(surfaces)
    assert accuracy > 0.2 and held_out > 0.2
    assert abs(accuracy - held_out) < 0.1
    shipped_held_out, shipped_accuracy = _pixel_category_accuracy(tiny_data_dir)
    assert max(shipped_held_out, shipped_accuracy) < min(held_out, accuracy)


def test_ground_truth_is_consistent_with_the_files(tiny_data_dir):
    gt = ground_truth.load_ground_truth(tiny_data_dir)
    preset = sim.PRESETS["tiny"]
    assert gt.config["preset"] == "tiny" and gt.config["seed"] == 0
    assert gt.config["knobs"]["noise"]["snr"] == preset.noise.snr
    assert set(gt.config["knobs"]["noise"]["roi_snr_absolute"]) == set(ROIS)
    # Categories: tables are 1-based, ground truth 0-based, -1 for artificial and letters.
    for row in _read_table(tiny_data_dir / "stimulus_NaturalImageTraining.tsv"):
        assert gt.category[row[0]] == int(row[2]) - 1
    for row in _read_table(tiny_data_dir / "stimulus_ArtificialImage.tsv"):
        assert gt.category[row[0]] == -1
    # Natural test images come from held-out categories (ds001506's design), one image each.
    test_categories = [gt.category[r[0]] for r in _read_table(tiny_data_dir / "stimulus_NaturalImageTest.tsv")]
    train_categories = {gt.category[r[0]] for r in _read_table(tiny_data_dir / "stimulus_NaturalImageTraining.tsv")}
    assert len(set(test_categories)) == len(test_categories) == preset.n_test
    assert not set(test_categories) & train_categories
    assert set(test_categories) | train_categories == set(range(preset.n_categories))

    encoding = gt.encoding["sub-01"]
    bdata = bdpy_bdata(tiny_data_dir / "sub-01_perceptionNaturalImageTraining_original_VC.h5")
    for roi in ROIS:
        in_roi = bdata.get_metadata(f"ROI_{roi}")[: encoding["roi"].size] == 1
        np.testing.assert_array_equal(encoding["roi"] == roi, in_roi)
    np.testing.assert_allclose(bdata.get_metadata("voxel_x")[: encoding["roi"].size], np.round(encoding["voxel_xyz"][:, 0].astype(float), 1))

    # The noisy trials average towards the noise-free responses (after undoing baseline and amplitude).
    signal = gt.noise_free["sub-01"]["NaturalImageTraining"]
    names = list(gt.noise_free_names["sub-01"]["NaturalImageTraining"])
    voxels = bdata.select("VoxelData = 1")
    ids = bdata.get("Label")[:, 1]
    table = {float(r[1]): r[0] for r in _read_table(tiny_data_dir / "stimulus_NaturalImageTraining.tsv")}
    rows = np.array([names.index(table[float("%f" % v)]) for v in ids])
    units = (voxels - encoding["baseline"]) / encoding["amplitude"]
    trial_r = np.mean([np.corrcoef(units[:, v], signal[rows, v])[0, 1] for v in range(0, units.shape[1], 7)])
    expected_r = np.mean([np.sqrt(s / (1 + s)) for s in encoding["snr"][::7]])  # corr of signal with signal + noise
    assert trial_r == pytest.approx(expected_r, abs=0.08)


def test_ffa_prefers_face_like_categories(tiny_data_dir):
    gt = ground_truth.load_ground_truth(tiny_data_dir)
    encoding = gt.encoding["sub-01"]
    signal = gt.noise_free["sub-01"]["NaturalImageTraining"]
    names = gt.noise_free_names["sub-01"]["NaturalImageTraining"]
    face = encoding["face_like"][np.array([gt.category[n] for n in names])]
    ffa = encoding["roi"] == "FFA"
    v1 = encoding["roi"] == "V1"
    assert signal[face][:, ffa].mean() - signal[~face][:, ffa].mean() > 0.3
    assert abs(signal[face][:, v1].mean() - signal[~face][:, v1].mean()) < signal[face][:, ffa].mean() - signal[~face][:, ffa].mean()


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path, tiny_data_dir):
    again = sim.simulate("tiny", tmp_path / "again", seed=0)
    assert _hash_tree(again) == _hash_tree(tiny_data_dir)
    other = sim.simulate("tiny", tmp_path / "other", seed=1)
    hashes, reference = _hash_tree(other), _hash_tree(tiny_data_dir)
    assert hashes.keys() != reference.keys() or hashes != reference
    assert hashes.get("sub-01_perceptionNaturalImageTraining_original_VC.h5") != reference["sub-01_perceptionNaturalImageTraining_original_VC.h5"]


def test_unknown_preset_lists_valid_ones(tmp_path):
    with pytest.raises(ReconbenchError, match="tiny, ci, default, full"):
        sim.simulate("huge", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unknown_subject_raises(tmp_path):
    with pytest.raises(ReconbenchError, match="sub-02"):
        sim.simulate("tiny", tmp_path / "x", subjects=["sub-02"])


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(ReconbenchError, match="already exists"):
        sim.simulate("tiny", out)
    assert (out / "keep.txt").read_text() == "old"
    sim.simulate("tiny", out, force=True)
    assert not (out / "keep.txt").exists()
    assert (out / "sub-01_perceptionLetterImage_original_VC.h5").is_file()


def test_failure_leaves_no_output(tmp_path, monkeypatch):
    def broken(root, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim, "write_split_manifest", broken)  # the name the simulator calls
    with pytest.raises(RuntimeError, match="disk full"):
        sim.simulate("tiny", tmp_path / "data")
    assert list(tmp_path.iterdir()) == []


def test_presets_have_the_documented_sizes():
    full = sim.PRESETS["full"]
    assert sum(full.voxel_counts("sub-01").values()) == pytest.approx(11700, rel=0.02)
    assert sum(full.voxel_counts("sub-02").values()) == pytest.approx(11100, rel=0.02)
    assert sum(full.voxel_counts("sub-03").values()) == pytest.approx(9900, rel=0.02)
    counts = full.voxel_counts("sub-01")
    assert counts["V1"] == 2500 and counts["LOC"] + counts["FFA"] + counts["PPA"] == 5000
    assert (full.n_training, full.training_reps, full.n_test, full.test_reps) == (1200, 5, 50, 24)
    # ds001506: 150 training categories x 8 images, 50 test images from 50 other categories.
    assert (full.n_training_categories, full.images_per_category, full.n_categories) == (150, 8, 200)
    assert full.n_training * full.training_reps // full.training_per_run == 120
    assert [sim.PRESETS[name].n_extra for name in ("tiny", "default", "full")] == [200, 1200, 2400]
    default = sim.PRESETS["default"]
    assert sum(default.voxel_counts("sub-01").values()) == pytest.approx(2900, rel=0.05)
    assert default.subjects == ("sub-01", "sub-02", "sub-03") and default.image_size == 256


def _ridge_pixel_identification(root: Path, subject: str = "sub-01", size: int = 32) -> float:
    """Independent decoder: sklearn RidgeCV from VC (z-scored per run, averaged) to 32x32 RGB pixels."""
    pairwise_identification = pytest.importorskip("bdpy.evals.metrics", reason=NO_BDPY).pairwise_identification
    from PIL import Image
    from sklearn.linear_model import RidgeCV

    tables = {}
    for session in ("NaturalImageTraining", "NaturalImageTest"):
        tables[session] = {"%f" % float(r[1]): r[0] for r in _read_table(root / f"stimulus_{session}.tsv")}

    def load(session):
        bdata = bdpy_bdata(root / f"{subject}_perception{session}_original_VC.h5")
        x, runs, ids = bdata.select("ROI_VC = 1"), bdata.select("Run").ravel(), bdata.get("Label")[:, 1]
        for run in np.unique(runs):
            m = runs == run
            x[m] = (x[m] - x[m].mean(axis=0)) / (x[m].std(axis=0) + 1e-8)
        unique = np.unique(ids)
        images = []
        for value in unique:
            with Image.open(root / "stimuli" / session / f"{tables[session]['%f' % value]}.png") as im:
                pixels = np.asarray(im.convert("RGB"), dtype=np.float64) / 255
            f = pixels.shape[0] // size
            images.append(pixels.reshape(size, f, size, f, 3).mean(axis=(1, 3)).ravel())
        return np.stack([x[ids == v].mean(axis=0) for v in unique]), np.stack(images)

    x_train, y_train = load("NaturalImageTraining")
    x_test, y_test = load("NaturalImageTest")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    model = RidgeCV(alphas=np.logspace(0, 6, 13)).fit((x_train - mean) / std, y_train)
    prediction = model.predict((x_test - mean) / std)
    return float(pairwise_identification(prediction, y_test).mean())


@pytest.mark.slow
def test_default_preset_is_calibrated_for_a_ridge_pixel_decoder(tmp_path):
    """The SNR knob puts a plain ridge pixel decoder well above chance (0.5) and well below perfect."""
    pytest.importorskip("bdpy.evals.metrics", reason=NO_BDPY)  # before the minute of simulation
    root = sim.simulate("default", tmp_path / "default", seed=0, subjects=["sub-01"])
    score = _ridge_pixel_identification(root)
    assert 0.65 < score < 0.95, score
    # A related category alone (the mean training image of the training category nearest to the test image's
    # held-out category in the ground-truth embedding) must not saturate the metric either.
    pairwise_identification = pytest.importorskip("bdpy.evals.metrics", reason=NO_BDPY).pairwise_identification
    from scipy.spatial.distance import cdist

    gt = ground_truth.load_ground_truth(root)
    embedding = gt.encoding["sub-01"]["category_embedding"]
    pixels = {}
    for session in ("NaturalImageTraining", "NaturalImageTest"):
        names = gt.noise_free_names["sub-01"][session]
        pixels[session] = (names, np.stack([_pixels(root / "stimuli" / session / f"{n}.png") for n in names]))
    train_names, train_pixels = pixels["NaturalImageTraining"]
    test_names, test_pixels = pixels["NaturalImageTest"]
    train_categories = np.array([gt.category[n] for n in train_names])
    candidates = np.unique(train_categories)
    nearest = candidates[cdist(embedding[[gt.category[n] for n in test_names]], embedding[candidates], "cosine").argmin(axis=1)]
    guesses = np.stack([train_pixels[train_categories == k].mean(axis=0) for k in nearest])
    nearest_category = pairwise_identification(guesses, test_pixels).mean()
    assert 0.5 < nearest_category < score, (nearest_category, score)


def _pixels(path: Path, size: int = 32) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.float64) / 255
    f = pixels.shape[0] // size
    return pixels.reshape(size, f, size, f, 3).mean(axis=(1, 3)).ravel()
