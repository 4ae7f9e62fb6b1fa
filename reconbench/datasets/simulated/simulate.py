"""``reconbench simulate``: a simulated dataset in the ds001506 layout.

The simulator writes BData ``.h5`` files, stimulus tables and a stimulus image
folder exactly as the loader expects the real ds001506 files, plus the ground
truth that no real dataset has (category of every image, every encoding
parameter, noise-free responses)::

    <out>/
      sub-01_perceptionNaturalImageTraining_original_VC.h5   (and Test, ArtificialImage, LetterImage)
      stimulus_<Session>.tsv        no header: name, stimulus id ('%f'), category index (1-based; 0 for
                                    artificial and letters), image index (1-based)
      stimuli/<Session>/<name>.png
      extra_images/extra_<NNNNN>.png  unlabelled images from the same image generator (no fMRI), for
                                    methods that can use more images (e.g. a generator network)
      ground_truth/simulation.json  format version, preset, seed, every knob, reconbench version
      ground_truth/stimuli.tsv      header: session, name, stimulus_id, category, family (0-based; -1 artificial/letters)
      ground_truth/extra_images.tsv header: name, category (0-based)
      ground_truth/<subject>_encoding.npz, ground_truth/<subject>_noise_free.npz
      reconbench_split.json         (reconbench.datasets.splits.write_split_manifest)

Each ``.h5`` holds ``/dataset`` (float64, trials x columns: all voxels, then
``Run``, then two ``Label`` columns: the 1-based image index and the float
stimulus id) and ``/metadata/{key,description,value}``; keys ``VoxelData``,
``Run``, ``Label``, ``stimulus_id`` (the id column alone, as the 2019 files
have), ``ROI_V1`` .. ``ROI_PPA``, ``ROI_LVC``, ``ROI_HVC``, ``ROI_VC``
(1 in the ROI, 0 for other voxels, NaN for non-voxel columns) and
``voxel_x/y/z``. Voxel columns are in a random order with ROIs interleaved, so
a reader must select by key.

``layout="god"`` (``reconbench simulate --layout god``) writes the same
simulation in the Generic Object Decoding layout (:mod:`reconbench.datasets.god`)
instead: one ``Subject<N>.h5`` per subject (``sub-01`` -> ``Subject1``) whose
trials are told apart by a ``DataType`` column (1 training, 2 natural test, 3
imagery), the float ImageNet id in one ``Label`` column (also keyed
``stimulus_id``), ``stimulus_ImageNet{Training,Test}.tsv`` tables and no shapes
or letters. Training and test trials are the very draws of the ds001506 layout.
Imagery trials (``test_reps`` per test category, labelled with the category's
synset as an integer) respond to half the mean noise-free response of the
category's test images; no imagery image is written, so imagery is not scored
unless a user adds images. Writing this layout changes nothing in the
ds001506-layout output.

The design follows ds001506 (since format 3): ``n_training_categories`` categories
with ``images_per_category`` training images each (``full``: 150 x 8), and
``n_test`` natural test images from as many held-out categories, one image
each. Categories belong to ``n_families`` families that share appearance
(:func:`reconbench.datasets.simulated.stimuli.make_categories`) and part of
their semantic embedding (:func:`~reconbench.datasets.simulated.encoding_model.category_embedding`),
so what is learnt about training categories carries over in part to the
unseen ones, while category identity does not. A category always fixes its
images' outline; their palette, texture and background follow it only with
probability ``category_surface`` each (format 4,
:func:`~reconbench.datasets.simulated.stimuli.image_surface`), so the low-level
statistics carry little of the category and the higher areas carry most of it. ``test_categories="seen"``
draws the test images from the training categories instead (the design of
format 2, for studying category leakage). Differences from ds001506 (by
design): stimulus images are PNG; there are no one-back repetition trials.

Same seed, same files: every random draw comes from
``numpy.random.default_rng([seed, stream, ...])`` and every file is written
without timestamps, so two runs are byte-identical. A subject's files do not
depend on which other subjects are simulated.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from reconbench import __version__
from reconbench.core.atomic import atomic_path
from reconbench.core.errors import ReconbenchError
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.simulated import encoding_model as em
from reconbench.datasets.simulated import stimuli as stim
from reconbench.datasets.simulated.ground_truth import (
    FORMAT_VERSION,
    Stimulus,
    ground_truth_folder,
    noise_free_path,
    simulation_json_path,
    stimuli_tsv_path,
)
from reconbench.datasets.simulated.settings import apply_settings, check_settings, settings_suffix
from reconbench.datasets.splits import write_split_manifest

ALL_SUBJECTS = ("sub-01", "sub-02", "sub-03")
#: Probability that each surface group of a natural image (palette, texture, background) is its
#: category's rather than drawn at random: the calibration knob ``category_surface``, at the value
#: every preset ships with. At 1 (format 3) a category fixed its images' surfaces and V1-V3
#: identified categories from them; at 0.25 they carry little category information beyond the outline
#: (docs/simulated-data.md, "Calibration").
CATEGORY_SURFACE = 0.25
EMBEDDING_DIM = 16
#: File layouts the simulator writes.
LAYOUTS = ("ds001506", "god")
#: ds001506 session of the simulation -> GOD session it becomes in the GOD layout.
GOD_SESSION_OF = {"NaturalImageTraining": "ImageNetTraining", "NaturalImageTest": "ImageNetTest"}


def god_subject(subject: str) -> str:
    """The GOD-layout name of a simulated subject: ``sub-01`` -> ``Subject1``."""
    return f"Subject{ALL_SUBJECTS.index(subject) + 1}"


#: Test-category designs: ``unseen`` (ds001506: every natural test image from a category absent from
#: training, one image per category) and ``seen`` (test images from the training categories, for studying
#: how much category leakage inflates scores).
TEST_CATEGORY_DESIGNS = ("unseen", "seen")


@dataclass(frozen=True)
class Preset:
    """Sizes and knobs of one simulated dataset.

    Attributes
    ----------
    name : str
    subjects : tuple of str
        Subjects simulated by default.
    image_size : int
        Stimulus width and height in pixels (a multiple of 64).
    n_training_categories, images_per_category : int
        Natural training images: this many categories x this many images each
        (ds001506: 150 x 8).
    n_families : int
        Families the categories belong to (training category k and held-out
        test category k both in family ``k % n_families``).
    training_reps, training_per_run : int
        Repetitions of each training image, images per run.
    n_test, test_reps : int
        Natural test images and repetitions (one repetition per run).
    test_categories : str
        ``unseen``: test image i is the one image of its own held-out category
        (ds001506); ``seen``: test image i is a further image of training
        category ``i % n_training_categories``.
    training_per_category : int or None
        Training images used per category (the first of each category's
        ``images_per_category``), None for all: a sweep setting that removes
        training images without changing the stimuli or the encoding world.
    artificial_reps, letter_reps : int
        Repetitions of the 40 shapes and of the 10 letters (one per run).
    n_extra : int
        Extra unlabelled natural images (``extra_images/``) from the training
        categories in turn, drawn like the stimuli from their own random
        stream, so they are never a training or test image and adding them
        changes no other file.
    roi_voxels : tuple of (str, int)
        Voxels per ROI of sub-01.
    subject_scale : tuple of float
        Voxel count of each subject relative to sub-01 (sub-01, sub-02, sub-03).
    category_surface : float
        Probability that each surface group of a natural image (palette,
        texture, background) is its category's rather than drawn at random
        (the calibration knob of format 4; :data:`CATEGORY_SURFACE`).
    noise : NoiseConfig
        Trial noise (``noise.snr``: single-trial SNR of a typical voxel).
    """

    name: str
    subjects: tuple[str, ...]
    image_size: int
    n_training_categories: int
    images_per_category: int
    n_families: int
    training_reps: int
    training_per_run: int
    n_test: int
    test_reps: int
    artificial_reps: int
    letter_reps: int
    n_extra: int
    roi_voxels: tuple[tuple[str, int], ...]
    test_categories: str = "unseen"
    training_per_category: int | None = None
    category_surface: float = CATEGORY_SURFACE
    subject_scale: tuple[float, float, float] = (1.0, 11100 / 11700, 9900 / 11700)
    noise: em.NoiseConfig = field(default_factory=em.NoiseConfig)

    @property
    def n_categories(self) -> int:
        """All latent categories: the training ones plus, under ``unseen``, one per test image."""
        return self.n_training_categories + (self.n_test if self.test_categories == "unseen" else 0)

    @property
    def used_per_category(self) -> int:
        """Training images written per category."""
        return self.images_per_category if self.training_per_category is None else self.training_per_category

    @property
    def n_training(self) -> int:
        """Natural training images written (``n_training_categories x used_per_category``)."""
        return self.n_training_categories * self.used_per_category

    def family_of(self) -> np.ndarray:
        """0-based family of every category, shape (n_categories,)."""
        k = np.arange(self.n_categories)
        return np.where(k < self.n_training_categories, k, k - self.n_training_categories) % self.n_families

    def voxel_counts(self, subject: str) -> dict[str, int]:
        """Voxels per ROI of ``subject``."""
        scale = self.subject_scale[ALL_SUBJECTS.index(subject)]
        return {roi: max(1, int(round(n * scale))) for roi, n in self.roi_voxels}


# sub-01 of ds001506 has ~11,700 VC voxels, ~2,500 in V1 and ~5,000 in HVC; `default` is a quarter.
_FULL_VOXELS = (("V1", 2500), ("V2", 1800), ("V3", 1500), ("V4", 900), ("LOC", 2300), ("FFA", 1500), ("PPA", 1200))

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        subjects=("sub-01",),
        image_size=64,
        n_training_categories=10,
        images_per_category=10,
        n_families=5,
        training_reps=2,
        training_per_run=50,
        n_test=10,
        test_reps=4,
        artificial_reps=2,
        letter_reps=2,
        n_extra=200,
        roi_voxels=(("V1", 80), ("V2", 60), ("V3", 50), ("V4", 30), ("LOC", 40), ("FFA", 20), ("PPA", 20)),
    ),
    # The regression preset of CI (``tox -e regression``): small enough to rerun in about two minutes on 2 cores,
    # with enough signal that the linear baselines, nearest_neighbor, divide_and_conquer and its oracle all score
    # clearly above chance on the natural test set, so a broken decoder shows up as a moved score. Against `tiny`:
    # 4x the training images (50 categories x 8, so the generator stage learns), 5x the natural test images (50
    # held-out categories: narrower intervals), 3.3x the voxels, in ds001506's proportions across ROIs (as `default`
    # and `full`), and a 5x higher SNR (0.2 with 2 repetitions: an averaged training image about as informative as
    # one of `default`, 0.04 with 5). At a higher SNR (format 3 had 0.5, with twice the V1-V3 voxels) V1-V3 carry
    # every feature level, the semantic vector too, better than LOC/FFA/PPA, the opposite of real cortex
    # (docs/simulated-data.md, "Calibration").
    "ci": Preset(
        name="ci",
        subjects=("sub-01",),
        image_size=64,
        n_training_categories=50,
        images_per_category=8,
        n_families=10,
        training_reps=2,
        training_per_run=50,
        n_test=50,
        test_reps=4,
        artificial_reps=4,
        letter_reps=4,
        n_extra=0,
        roi_voxels=(("V1", 209), ("V2", 151), ("V3", 126), ("V4", 75), ("LOC", 193), ("FFA", 126), ("PPA", 100)),
        noise=em.NoiseConfig(snr=0.2),
    ),
    "default": Preset(
        name="default",
        subjects=ALL_SUBJECTS,
        image_size=256,
        n_training_categories=75,
        images_per_category=8,
        n_families=10,
        training_reps=5,
        training_per_run=50,
        n_test=50,
        test_reps=8,
        artificial_reps=4,
        letter_reps=4,
        n_extra=1200,
        roi_voxels=tuple((roi, n // 4) for roi, n in _FULL_VOXELS),
    ),
    "full": Preset(
        name="full",
        subjects=ALL_SUBJECTS,
        image_size=256,
        n_training_categories=150,
        images_per_category=8,
        n_families=10,
        training_reps=5,
        training_per_run=50,
        n_test=50,
        test_reps=24,
        artificial_reps=20,
        letter_reps=12,
        n_extra=2400,
        roi_voxels=_FULL_VOXELS,
    ),
}
"""Preset name -> :class:`Preset`."""


# ---------------------------------------------------------------------------
# Stimulus design


def _natural_stimuli(preset: Preset, seed: int) -> tuple[list[Stimulus], list[Stimulus]]:
    """Training and test stimuli of the design: ImageNet-like names and float ids.

    Training: ``images_per_category`` images of each of the ``n_training_categories``
    categories. Test: under ``unseen`` one image of each held-out category
    ``n_training_categories + i``; under ``seen`` a further image of training
    category ``i % n_training_categories``. Each category's image numbers are
    drawn once, training images first, so an image keeps its name whatever
    ``training_per_category`` is.
    """
    if preset.test_categories not in TEST_CATEGORY_DESIGNS:
        raise ReconbenchError(f"test_categories must be one of {', '.join(TEST_CATEGORY_DESIGNS)}, got {preset.test_categories!r}")
    rng = np.random.default_rng([seed, 4])
    n_train_cat, per_category = preset.n_training_categories, preset.images_per_category
    synsets = rng.choice(np.arange(1_000_000, 15_000_000), size=preset.n_categories, replace=False)
    if preset.test_categories == "unseen":
        test_category = [n_train_cat + i for i in range(preset.n_test)]
    else:
        test_category = [i % n_train_cat for i in range(preset.n_test)]
    count = np.zeros(preset.n_categories, dtype=int)
    count[:n_train_cat] = per_category
    np.add.at(count, test_category, 1)
    image_numbers = [rng.choice(np.arange(1, 100_000), size=int(c), replace=False) for c in count]
    family_of = preset.family_of()

    def stimulus(session: str, k: int, member: int) -> Stimulus:
        number = int(image_numbers[k][member])
        name = "n%08d_%d" % (synsets[k], number)
        return Stimulus(session, name, float(synsets[k]) + number * 1e-6, k, 0, int(family_of[k]), member)

    training = [stimulus("NaturalImageTraining", k, j) for k in range(n_train_cat) for j in range(per_category)]
    used = np.full(preset.n_categories, per_category)
    used[n_train_cat:] = 0
    test = []
    for k in test_category:
        test.append(stimulus("NaturalImageTest", k, int(used[k])))
        used[k] += 1

    return _in_id_order(training), _in_id_order(test)


def _in_id_order(stimuli: list[Stimulus]) -> list[Stimulus]:
    """The stimuli sorted by id, with 1-based image indices in that order (as ds001506 numbers them)."""
    ordered = sorted(stimuli, key=lambda s: s.stimulus_id)
    return [replace(s, image_index=j + 1) for j, s in enumerate(ordered)]


def stimulus_design(preset: Preset, seed: int) -> dict[str, list[Stimulus]]:
    """The stimuli of every session, in stimulus-table order.

    Natural ids are ``synset + image_number * 1e-6`` so that ``'%f' % id``
    splits at the point into ``n%08d_%d``; with ``training_per_category`` set,
    the training session keeps the first images of each category only (see
    :func:`world_design` for the design the encoding world is built on); artificial shapes and letters have
    ids 1..40 and 1..10 (equal to their image index).
    """
    training, test = _natural_stimuli(preset, seed)
    if preset.training_per_category is not None:
        if not 1 <= preset.training_per_category <= preset.images_per_category:
            raise ReconbenchError(
                f"training_per_category must lie in 1..{preset.images_per_category} (the preset's images per category), got {preset.training_per_category}"
            )
        training = _in_id_order([s for s in training if s.member < preset.training_per_category])
    shapes = [Stimulus("ArtificialImage", name, float(i + 1), -1, i + 1) for i, (name, _, _) in enumerate(stim.shape_stimulus_names())]
    letters = [Stimulus("LetterImage", name, float(i + 1), -1, i + 1) for i, (name, _) in enumerate(stim.letter_stimulus_names())]
    return {"NaturalImageTraining": training, "NaturalImageTest": test, "ArtificialImage": shapes, "LetterImage": letters}


def world_design(preset: Preset, seed: int) -> dict[str, list[Stimulus]]:
    """The design the encoding world is built on: :func:`stimulus_design` with every training image.

    The voxel normalisation and the category prototypes come from it, so a sweep
    point with fewer training images per category keeps the same world and
    differs only in which images are shown.
    """
    return stimulus_design(replace(preset, training_per_category=None), seed)


def trial_design(preset: Preset, session: str, n_stimuli: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stimulus row and run number (1-based) of every trial of a session.

    Training: each repetition shows every image once in a random order, cut into
    runs of ``training_per_run`` images (1200 images -> 24 runs per repetition,
    120 runs in all, as ds001506). Test sessions: each run shows every
    stimulus once in a random order.
    """
    if session == "NaturalImageTraining":
        reps, per_run = preset.training_reps, preset.training_per_run
    else:
        reps = {"NaturalImageTest": preset.test_reps, "ArtificialImage": preset.artificial_reps, "LetterImage": preset.letter_reps}[session]
        per_run = n_stimuli
    stimulus_rows, runs = [], []
    runs_per_rep = -(-n_stimuli // per_run)
    for r in range(reps):
        order = rng.permutation(n_stimuli)
        stimulus_rows.append(order)
        runs.append(r * runs_per_rep + np.arange(n_stimuli) // per_run + 1)
    return np.concatenate(stimulus_rows), np.concatenate(runs)


# ---------------------------------------------------------------------------
# Writers (byte-deterministic)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) float image in [0, 1] as an 8-bit RGB PNG without metadata."""
    from PIL import Image

    pixels = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, format="PNG", optimize=False, compress_level=1)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to an uncompressed ``.npz`` readable by ``numpy.load``, with fixed zip timestamps.

    ``numpy.savez`` stamps the current time into the zip; this writer does not.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            value = np.asarray(arrays[key])
            if value.dtype == object:
                raise TypeError(f"{key}: object arrays are not written (they would need pickle)")
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, value, allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


#: The non-voxel columns of a ds001506-layout file: (key, description, first, last + 1), counted after the voxels.
DS001506_COLUMNS = (
    ("Run", "1 = Run", 0, 1),
    ("Label", "1 = Label (image index, stimulus id)", 1, 3),
    ("stimulus_id", "1 = stimulus id", 2, 3),
)
#: The same for a GOD-layout file (voxels, then DataType, Run and Label = stimulus_id).
GOD_COLUMNS = (
    ("DataType", "1 = DataType (1 training, 2 test perception, 3 test imagery)", 0, 1),
    ("Run", "1 = Run", 1, 2),
    ("Label", "1 = Label (ImageNet id; imagery: synset)", 2, 3),
    ("stimulus_id", "1 = stimulus id", 2, 3),
)


def _metadata(encoding: em.SubjectEncoding, columns_after_voxels=DS001506_COLUMNS) -> tuple[list[str], list[str], np.ndarray]:
    """BData metadata keys, descriptions and values (keys x columns) for the voxels and the
    ``columns_after_voxels`` (:data:`DS001506_COLUMNS` or :data:`GOD_COLUMNS`)."""
    n_vox = encoding.roi.size
    n_cols = n_vox + max(stop for _, _, _, stop in columns_after_voxels)
    keys, descriptions, rows = [], [], []

    def add(key: str, description: str, row: np.ndarray) -> None:
        keys.append(key)
        descriptions.append(description)
        rows.append(row)

    def columns(start: int, stop: int) -> np.ndarray:
        row = np.full(n_cols, np.nan)
        row[start:stop] = 1.0
        return row

    add("VoxelData", "1 = VoxelData", columns(0, n_vox))
    for key, description, start, stop in columns_after_voxels:
        add(key, description, columns(n_vox + start, n_vox + stop))
    unions = {"LVC": ("V1", "V2", "V3"), "HVC": ("LOC", "FFA", "PPA"), "VC": em.ROIS}
    for name, members in [(r, (r,)) for r in em.ROIS] + list(unions.items()):
        row = np.full(n_cols, np.nan)
        row[:n_vox] = np.isin(encoding.roi, members).astype(float)
        add(f"ROI_{name}", f"1 = ROI {name}", row)
    for axis, label in enumerate("xyz"):
        row = np.full(n_cols, np.nan)
        row[:n_vox] = np.round(encoding.voxel_xyz[:, axis].astype(np.float64), 1)
        add(f"voxel_{label}", f"Voxel {label} coordinate (mm)", row)
    return keys, descriptions, np.vstack(rows)


def write_bdata(
    path: Path,
    voxels: np.ndarray,
    runs: np.ndarray,
    image_index: np.ndarray,
    stimulus_id: np.ndarray,
    keys: list[str],
    descriptions: list[str],
    values: np.ndarray,
) -> None:
    """Write a BData ``.h5`` file as the 2019 ds001506 files are laid out (no /vmap, no /header).

    Parameters
    ----------
    voxels : ndarray, shape (T, V)
    runs, image_index, stimulus_id : ndarray, shape (T,)
    keys, descriptions : list of str, length n_keys
    values : ndarray, shape (n_keys, V + 3)
    """
    import h5py

    dataset = np.concatenate(
        [voxels.astype(np.float64), runs[:, None].astype(np.float64), image_index[:, None].astype(np.float64), stimulus_id[:, None].astype(np.float64)],
        axis=1,
    )
    with h5py.File(path, "w", libver="earliest") as handle:
        handle.create_dataset("dataset", data=dataset, track_times=False)
        # Groups created through a property list without time tracking keep the file byte-stable.
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        group = h5py.Group(h5py.h5g.create(handle.id, b"metadata", gcpl=gcpl))
        group.create_dataset("key", data=np.array([k.encode() for k in keys]), track_times=False)
        group.create_dataset("description", data=np.array([d.encode() for d in descriptions]), track_times=False)
        group.create_dataset("value", data=values.astype(np.float64), track_times=False)


def _write_stimulus_table(path: Path, stimuli: list[Stimulus]) -> None:
    lines = []
    for s in stimuli:
        lines.append(f"{s.name}\t{s.stimulus_id:f}\t{s.category + 1 if s.category >= 0 else 0}\t{s.image_index}\n")
    path.write_text("".join(lines), encoding="utf-8")


#: Random stream of the simulated imagery trials (the four ds001506 sessions use 0..3).
IMAGERY_STREAM = 10
#: Imagery responses are this fraction of the mean perception response of the imagined category.
IMAGERY_GAIN = 0.5


def _imagery_trials(
    config: Preset, encoding: em.SubjectEncoding, design: dict[str, list[Stimulus]], noise_free: dict[str, np.ndarray], seed: int, subject_number: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """GOD ``DataType`` 3: ``test_reps`` imagery trials per natural test category, one per run, labelled with the synset.

    Returns ``(3, bold (T, V), runs (T,), labels (T,))``.
    """
    test = design["NaturalImageTest"]
    categories = sorted({s.category for s in test})
    signal = np.stack([IMAGERY_GAIN * noise_free["NaturalImageTest"][[i for i, s in enumerate(test) if s.category == k]].mean(axis=0) for k in categories])
    synsets = [int(np.floor(next(s.stimulus_id for s in test if s.category == k))) for k in categories]
    rng = np.random.default_rng([seed, 100 + subject_number, IMAGERY_STREAM])
    rows = np.concatenate([rng.permutation(len(categories)) for _ in range(config.test_reps)])
    runs = np.repeat(np.arange(1, config.test_reps + 1), len(categories))
    bold = em.simulate_trials(encoding, signal.astype(np.float32), rows, runs, config.noise, rng)
    return 3, bold, runs, np.asarray([float(synsets[r]) for r in rows])


def _write_god_bdata(path: Path, encoding: em.SubjectEncoding, parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Write one GOD-layout BData file: voxels, then ``DataType``, ``Run`` and ``Label`` (= ``stimulus_id``) columns.

    ``parts``: ``(DataType, bold (T, V), runs (T,), labels (T,))`` per session; run numbers are
    made unique across the file (each part continues after the last run of the previous one).
    """
    import h5py

    blocks, offset = [], 0
    for datatype, bold, runs, labels in parts:
        blocks.append(np.column_stack([bold.astype(np.float64), np.full(len(runs), float(datatype)), runs.astype(np.float64) + offset, labels]))
        offset += int(runs.max())
    keys, descriptions, values = _metadata(encoding, GOD_COLUMNS)
    with h5py.File(path, "w", libver="earliest") as handle:
        handle.create_dataset("dataset", data=np.concatenate(blocks), track_times=False)
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        group = h5py.Group(h5py.h5g.create(handle.id, b"metadata", gcpl=gcpl))
        group.create_dataset("key", data=np.array([k.encode() for k in keys]), track_times=False)
        group.create_dataset("description", data=np.array([d.encode() for d in descriptions]), track_times=False)
        group.create_dataset("value", data=values.astype(np.float64), track_times=False)


# ---------------------------------------------------------------------------
# Main entry point


def _progress_bar(enabled: bool):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())


def _render_all(
    preset: Preset,
    seed: int,
    design: dict[str, list[Stimulus]],
    categories: list[stim.CategorySpec],
    stimuli_dir: Path,
    progress,
    shown: set[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render every stimulus of ``design`` and save those in ``shown`` (default all); return
    block-averaged images, masks and backgrounds for the features.

    A natural image's random stream is keyed by its category and its number within the
    category (not by its place in the session), so it is the same image whichever other
    images are drawn."""
    size, fs = preset.image_size, em.FEATURE_SIZE
    total = sum(len(v) for v in design.values())
    small_images = np.zeros((total, fs, fs, 3), np.float32)
    small_masks = np.zeros((total, fs, fs), np.float32)
    small_backgrounds = np.zeros((total, em.LAYOUT_SIZE, em.LAYOUT_SIZE, 3), np.float32)
    shape_lookup = {name: (colour, shape) for name, colour, shape in stim.shape_stimulus_names()}
    letter_lookup = dict(stim.letter_stimulus_names())
    task = progress.add_task("rendering stimuli", total=total) if progress is not None else None
    row = 0
    for session in SESSIONS:
        folder = stimuli_dir / session
        folder.mkdir(parents=True)
        for s in design[session]:
            if session in ("NaturalImageTraining", "NaturalImageTest"):
                stream = 0 if session == "NaturalImageTraining" else 1
                rng = np.random.default_rng([seed, 10 + stream, s.category, s.member])
                surface_rng = np.random.default_rng([seed, SURFACE_STREAM + stream, s.category, s.member])
                spec = stim.image_surface(categories[s.category], preset.category_surface, surface_rng)
                image, mask, background = stim.render_natural(spec, size, rng)
            else:
                if session == "ArtificialImage":
                    image, mask = stim.render_shape(*shape_lookup[s.name], size)
                else:
                    image, mask = stim.render_letter(letter_lookup[s.name], size)
                background = np.full_like(image, stim.GREY)
            if shown is None or s.name in shown:
                write_png(folder / f"{s.name}.png", image)
            # Features see the image as saved (8-bit), block-averaged to the feature grid.
            saved = np.round(np.clip(image, 0, 1) * 255) / 255
            small_images[row] = em.block_mean(saved.transpose(2, 0, 1), fs).transpose(1, 2, 0)
            small_masks[row] = em.block_mean(mask, fs)
            small_backgrounds[row] = em.block_mean(background.transpose(2, 0, 1), em.LAYOUT_SIZE).transpose(1, 2, 0)
            row += 1
            if task is not None:
                progress.advance(task)
    return small_images, small_masks, small_backgrounds


#: Random stream of the extra images (training stimuli use 10, natural test stimuli 11).
EXTRA_STREAM = 12
#: Random streams of the natural images' surfaces (:func:`~reconbench.datasets.simulated.stimuli.image_surface`):
#: training 20, natural test 21, extra images 22; apart from the images' other draws, so that
#: ``category_surface`` changes only the surfaces.
SURFACE_STREAM = 20


def extra_image_categories(preset: Preset) -> np.ndarray:
    """0-based category of each extra image: the training categories in turn (never a held-out test category)."""
    return np.arange(preset.n_extra) % preset.n_training_categories


def _render_extra(preset: Preset, seed: int, categories: list[stim.CategorySpec], folder: Path, progress) -> None:
    """Render ``preset.n_extra`` unlabelled natural images into ``folder``."""
    if preset.n_extra == 0:
        return
    folder.mkdir(parents=True)
    task = progress.add_task("rendering extra images", total=preset.n_extra) if progress is not None else None
    for index, category in enumerate(extra_image_categories(preset)):
        rng = np.random.default_rng([seed, EXTRA_STREAM, index])
        spec = stim.image_surface(categories[category], preset.category_surface, np.random.default_rng([seed, SURFACE_STREAM + 2, index]))
        image, _, _ = stim.render_natural(spec, preset.image_size, rng)
        write_png(folder / f"extra_{index:05d}.png", image)
        if task is not None:
            progress.advance(task)


def _features(images: np.ndarray, masks: np.ndarray, backgrounds: np.ndarray, chunk: int = 64) -> em.ImageFeatures:
    parts = [em.image_features(images[i : i + chunk], masks[i : i + chunk], backgrounds[i : i + chunk]) for i in range(0, len(images), chunk)]
    return em.ImageFeatures(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in em.ImageFeatures.__dataclass_fields__})


def simulate(
    preset: str,
    out: Path,
    seed: int = 0,
    force: bool = False,
    progress: bool = False,
    subjects: list[str] | None = None,
    layout: str = "ds001506",
    settings: Mapping[str, float | int] | None = None,
) -> Path:
    """Simulate a dataset in the ds001506 layout (or the GOD layout).

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS` (``tiny``, ``default``, ``full``).
    out : path
        Output folder; written to a temporary sibling and renamed at the end.
    seed : int
        Random seed; the same seed gives byte-identical files.
    force : bool
        Replace an existing ``out``.
    progress : bool
        Show progress bars (rich).
    subjects : list of str, optional
        Subset of the preset's subjects (e.g. ``["sub-01"]``); a subject's
        files are the same whichever others are simulated.
    layout : str
        ``"ds001506"`` (default) or ``"god"`` (see the module docstring).
    settings : mapping, optional
        Knobs changed from the preset (a sweep point, see
        :mod:`reconbench.datasets.simulated.settings`), e.g. ``{"snr": 0.01}``;
        recorded in ``simulation.json``. The stimuli and the encoding model's
        draws do not depend on them.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ReconbenchError
        Unknown preset or subject, or ``out`` exists and ``force`` is false.
    """
    if preset not in PRESETS:
        raise ReconbenchError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    settings = check_settings(settings or {})
    config = apply_settings(PRESETS[preset], settings)
    out = Path(out)
    if out.exists() and not force:
        raise ReconbenchError(f"output folder {out} already exists; pass --force to replace it or choose another --out")
    if subjects is None:
        subjects = list(config.subjects)
    unknown = [s for s in subjects if s not in config.subjects]
    if unknown or not subjects:
        raise ReconbenchError(f"unknown subjects {unknown or subjects!r} for preset {preset!r}; valid: {', '.join(config.subjects)}")
    subjects = [s for s in config.subjects if s in subjects]
    if seed < 0:
        raise ReconbenchError(f"seed must be a non-negative integer, got {seed}")
    if layout not in LAYOUTS:
        raise ReconbenchError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    god = layout == "god"

    started = time.perf_counter()
    with atomic_path(out) as tmp, _progress_bar(progress) as bar:
        tmp.mkdir()
        ground_truth_folder(tmp).mkdir()
        world = world_design(config, seed)
        design = stimulus_design(config, seed)
        family_of = config.family_of()
        categories = stim.make_categories(family_of, np.random.default_rng([seed, 1]))
        for session in SESSIONS:
            if not god:
                _write_stimulus_table(tmp / f"stimulus_{session}.tsv", design[session])
            elif session in GOD_SESSION_OF:
                _write_stimulus_table(tmp / f"stimulus_{GOD_SESSION_OF[session]}.tsv", design[session])

        shown = {s.name for session in SESSIONS for s in design[session]}
        small_images, small_masks, small_backgrounds = _render_all(config, seed, world, categories, tmp / "stimuli", bar, shown)
        if god:  # GOD has no shapes or letters: their images were rendered for the shared features only
            for session in SESSIONS:
                if session not in GOD_SESSION_OF:
                    shutil.rmtree(tmp / "stimuli" / session)
        _render_extra(config, seed, categories, tmp / "extra_images", bar)
        features = _features(small_images, small_masks, small_backgrounds)
        all_stimuli = [s for session in SESSIONS for s in world[session]]
        row_of = {s.name: row for row, s in enumerate(all_stimuli)}
        session_of = np.array([s.session for s in all_stimuli])
        category_of = np.array([s.category for s in all_stimuli])
        reference = session_of == "NaturalImageTraining"
        natural = reference | (session_of == "NaturalImageTest")

        embedding, family_embedding = em.category_embedding(family_of, EMBEDDING_DIM, np.random.default_rng([seed, 6]))
        face_like = np.array([c.silhouette == "blob" for c in categories])
        scene_like = np.array([c.background == "horizon" for c in categories])
        semantic = em.semantic_vectors(features, category_of, reference, config.n_categories, prototype_images=natural)

        task = bar.add_task("simulating subjects", total=len(subjects)) if bar is not None else None
        for subject in subjects:
            subject_number = ALL_SUBJECTS.index(subject)
            encoding = em.draw_encoding(
                config.voxel_counts(subject),
                features.shape.shape[1],
                embedding,
                config.noise,
                np.random.default_rng([seed, 100 + subject_number]),
            )
            signal = em.noise_free_responses(encoding, features, semantic, embedding, face_like, scene_like, reference)
            keys, descriptions, values = _metadata(encoding)
            noise_free: dict[str, np.ndarray] = {}
            god_parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # (DataType, bold, runs, ids)
            for session_number, session in enumerate(SESSIONS):
                rows = np.array([row_of[s.name] for s in design[session]], dtype=int)
                session_signal = signal[rows]
                noise_free[session] = session_signal
                noise_free[f"{session}/stimulus_names"] = np.array([s.name for s in design[session]])
                rng = np.random.default_rng([seed, 100 + subject_number, session_number])
                stimulus_rows, runs = trial_design(config, session, rows.size, rng)
                bold = em.simulate_trials(encoding, session_signal, stimulus_rows, runs, config.noise, rng)
                index = np.array([design[session][r].image_index for r in stimulus_rows])
                ids = np.array([design[session][r].stimulus_id for r in stimulus_rows])
                if not god:
                    write_bdata(tmp / f"{subject}_perception{session}_original_VC.h5", bold, runs, index, ids, keys, descriptions, values)
                elif session in GOD_SESSION_OF:
                    god_parts.append((1 if session == "NaturalImageTraining" else 2, bold, runs, ids))
            name = subject
            if god:
                name = god_subject(subject)
                god_parts.append(_imagery_trials(config, encoding, design, noise_free, seed, subject_number))
                _write_god_bdata(tmp / f"{name}.h5", encoding, god_parts)
                noise_free = {
                    (GOD_SESSION_OF[k.split("/")[0]] + k[len(k.split("/")[0]) :]): v for k, v in noise_free.items() if k.split("/")[0] in GOD_SESSION_OF
                }
            arrays = encoding.to_arrays()
            arrays.update(category_embedding=embedding, family_embedding=family_embedding, face_like=face_like, scene_like=scene_like)
            write_npz(ground_truth_folder(tmp) / f"{name}_encoding.npz", arrays)
            write_npz(noise_free_path(tmp, name), noise_free)
            if task is not None:
                bar.advance(task)

        _write_ground_truth(tmp, config, seed, subjects, design, categories, layout, settings)
        write_split_manifest(tmp)
    if progress:
        shown = f" with {settings_suffix(settings)}" if settings else ""
        print(f"simulated preset {preset!r}{shown} (seed {seed}) into {out} in {time.perf_counter() - started:.1f} s")
    return out


def _write_ground_truth(
    root: Path,
    config: Preset,
    seed: int,
    subjects: list[str],
    design: dict[str, list[Stimulus]],
    categories: list[stim.CategorySpec],
    layout: str = "ds001506",
    settings: Mapping[str, float | int] | None = None,
) -> None:
    knobs = asdict(config)
    knobs["noise"]["roi_snr_absolute"] = {roi: config.noise.roi_snr_of(roi) for roi in em.ROIS}
    document = {
        "format_version": FORMAT_VERSION,
        "reconbench_version": __version__,
        "preset": config.name,
        "seed": seed,
        "subjects": subjects if layout != "god" else [god_subject(s) for s in subjects],
        "voxel_counts": {(s if layout != "god" else god_subject(s)): config.voxel_counts(s) for s in subjects},
        "knobs": knobs,
        "encoding_model": {
            "field_deg": em.FIELD_DEG,
            "feature_size": em.FEATURE_SIZE,
            "pool_size": em.POOL_SIZE,
            "gabor_orientations_deg": list(em.GABOR_ORIENTATIONS_DEG),
            "gabor_cycles_per_image": list(em.GABOR_CYCLES_PER_IMAGE),
            "gabor_bandwidth": em.GABOR_BANDWIDTH,
            "contrast_semisaturation": em.CONTRAST_SEMISATURATION,
            "prf_size_intercept_slope_deg": {k: list(v) for k, v in em.PRF_SIZE.items()},
            "compressive_exponent": em.COMPRESSIVE_EXPONENT,
            "embedding_dim": EMBEDDING_DIM,
            "object_channels": em.OBJECT_CHANNELS,
            "object_weight": em.OBJECT_WEIGHT,
            "object_template_seed": em.OBJECT_TEMPLATE_SEED,
        },
        "categories": [asdict(c) for c in categories],
        **({"settings": dict(settings)} if settings else {}),
        "families": config.n_families,
        "category_family": [int(f) for f in config.family_of()],
        "notes": (
            "Natural test images come from held-out categories, one image each, as in ds001506; categories share families."
            if config.test_categories == "unseen"
            else "Natural test images are further images of the training categories (the 'seen' design; ds001506's test categories are absent from training)."
        ),
    }
    if layout == "god":  # the key is absent from ds001506-layout folders, whose files stay as they were
        document["layout"] = "god"
    simulation_json_path(root).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = ["session\tname\tstimulus_id\tcategory\tfamily\n"]
    for session in SESSIONS:
        if layout == "god" and session not in GOD_SESSION_OF:
            continue
        for s in design[session]:
            lines.append(f"{GOD_SESSION_OF[session] if layout == 'god' else session}\t{s.name}\t{s.stimulus_id:f}\t{s.category}\t{s.family}\n")
    stimuli_tsv_path(root).write_text("".join(lines), encoding="utf-8")
    extra = ["name\tcategory\n"] + [f"extra_{i:05d}\t{k}\n" for i, k in enumerate(extra_image_categories(config))]
    (ground_truth_folder(root) / "extra_images.tsv").write_text("".join(extra), encoding="utf-8")
