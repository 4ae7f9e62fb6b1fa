"""Write small BData ``.h5`` files and stimulus folders in the real ds001506 layout.

The files are written with h5py directly (not with bdpy), in the layout public
loaders show for the 2019 files: ``/dataset`` (float64, samples x columns),
``/metadata/{key,description,value}`` (value: keys x columns, 1 marks a key's
columns, NaN elsewhere), no ``/header`` and no ``/vmap`` unless asked.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.stats
from PIL import Image

BASE_ROIS = ("V1", "V2", "V3", "V4", "LOC", "FFA", "PPA")
ROI_SIZES = {"V1": 7, "V2": 6, "V3": 5, "V4": 4, "LOC": 4, "FFA": 3, "PPA": 3}

ARTIFICIAL_NAMES = [
    f"colorExpStim{k:02d}_{c}_{s}"
    for k, (c, s) in enumerate([("red", "square"), ("green", "smallring"), ("blue", "largering"), ("yellow", "+"), ("white", "X")], start=1)
]
LETTER_NAMES = ["letter_A", "letter_B", "letter_C"]


def natural_float(synset: int, number: int) -> float:
    """The float id of ImageNet image ``n<synset>_<number>``."""
    return float("%d.%06d" % (synset, number))


# Natural ids chosen so that a shortened decimal would give the wrong name:
# 1518878.01 (str) is n01518878_10000, not _1; 5-digit image numbers occur.
TRAIN_NATURAL = [
    (1518878, 5958),
    (1518878, 10000),
    (1639765, 48),
    (2085620, 10042),
    (2089973, 1),
    (2109047, 21660),
    (2950826, 3013),
    (3028079, 2000),
    (3452741, 110),
    (3584254, 90001),
    (4152593, 7),
    (4254680, 3500),
]
TEST_NATURAL = [(1443537, 22563), (1621127, 19020), (1677366, 18182)]


def natural_name(synset: int, number: int) -> str:
    return "n%08d_%d" % (synset, number)


@dataclass
class SessionSpec:
    names: list[str]  # stimulus name of each unique stimulus
    label_values: list[float]  # the number the file stores for each unique stimulus
    repetitions: int
    n_runs: int


@dataclass
class BuiltDataset:
    root: Path
    files: dict[str, dict[str, Path]] = field(default_factory=dict)  # subject -> session -> path
    image_files: dict[str, Path] = field(default_factory=dict)


def roi_layout(sizes: dict[str, int] = ROI_SIZES) -> dict[str, np.ndarray]:
    """Disjoint consecutive voxel index blocks per base ROI."""
    out, start = {}, 0
    for roi in BASE_ROIS:
        out[roi] = np.arange(start, start + sizes[roi])
        start += sizes[roi]
    return out


def write_bdata(
    path: Path,
    columns: list[tuple[str, np.ndarray]],
    extra_metadata: list[tuple[str, np.ndarray]] = (),
    vmap: dict[str, dict[float, str]] | None = None,
    value_columns_delta: int = 0,
) -> None:
    """Write a BData file. ``columns``: (key, data (T, k)) blocks of /dataset in order;
    ``extra_metadata``: (key, per-column value) rows such as ROI masks.
    ``value_columns_delta`` != 0 writes a malformed /metadata/value (wrong column count)."""
    blocks = [np.asarray(d, dtype=np.float64).reshape(len(d), -1) for _, d in columns]
    dataset = np.hstack(blocks)
    n_cols = dataset.shape[1]
    keys, descriptions, values = [], [], []
    start = 0
    for (key, _), block in zip(columns, blocks):
        row = np.full(n_cols, np.nan)
        row[start : start + block.shape[1]] = 1
        keys.append(key)
        descriptions.append(f"1 = {key}")
        values.append(row)
        start += block.shape[1]
    for key, row in extra_metadata:
        keys.append(key)
        descriptions.append(f"1 = {key}")
        values.append(np.asarray(row, dtype=float))
    value = np.vstack(values)
    if value_columns_delta:
        value = value[:, : n_cols + value_columns_delta] if value_columns_delta < 0 else np.hstack([value, np.full((len(keys), value_columns_delta), np.nan)])
    with h5py.File(path, "w") as h5:
        h5.create_dataset("/dataset", data=dataset)
        h5.create_group("/metadata")
        h5.create_dataset("/metadata/key", data=[k.encode() for k in keys])
        h5.create_dataset("/metadata/description", data=[d.encode() for d in descriptions])
        h5.create_dataset("/metadata/value", data=value)
        if vmap:
            h5.create_group("/vmap")
            for mk, mapping in vmap.items():
                h5.create_group(f"/vmap/{mk}")
                for k, v in mapping.items():
                    h5.create_dataset(f"/vmap/{mk}/{k}", data=v.encode())


def session_trials(spec: SessionSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stimulus index (into spec.names) and run of every trial: each run shows every
    stimulus repetitions/n_runs times, in a shuffled order."""
    per_run = spec.repetitions // spec.n_runs
    stim, runs = [], []
    for run in range(1, spec.n_runs + 1):
        order = np.repeat(np.arange(len(spec.names)), per_run)
        rng.shuffle(order)
        stim.append(order)
        runs.append(np.full(order.size, run))
    return np.concatenate(stim), np.concatenate(runs)


def write_session_file(
    path: Path,
    spec: SessionSpec,
    rng: np.random.Generator,
    *,
    style: str = "2019",
    roi_sizes: dict[str, int] = ROI_SIZES,
    union_keys: bool = True,
    drop_keys: tuple[str, ...] = (),
    v4_key: str = "ROI_V4",
    nan_voxel: bool = False,
    value_columns_delta: int = 0,
    runs_per_scan_session: int = 0,
) -> None:
    """One session file. ``style``: ``"2019"`` (Label = [flag, id]), ``"v2"`` (Label =
    [flag, image index, id] plus an image_index key) or ``"vmap"`` (stimulus_name via /vmap)."""
    layout = roi_layout(roi_sizes)
    n_vox = sum(roi_sizes.values())
    stim, runs = session_trials(spec, rng)
    n_trials = stim.size
    # Voxels: a stimulus signal, a run offset (what per-run z-scoring removes) and noise.
    signal = rng.normal(size=(len(spec.names), n_vox))
    offsets = rng.normal(scale=5.0, size=(spec.n_runs + 1, n_vox))
    voxels = signal[stim] + offsets[runs] + 0.5 * rng.normal(size=(n_trials, n_vox))
    if nan_voxel:
        voxels[1, 2] = np.nan
    label_values = np.asarray(spec.label_values)[stim]
    if style == "2019":
        columns = [("VoxelData", voxels), ("Run", runs), ("Label", np.column_stack([np.ones(n_trials), label_values]))]
    elif style == "v2":
        image_index = stim + 1
        columns = [
            ("VoxelData", voxels),
            ("Run", runs),
            ("Label", np.column_stack([np.ones(n_trials), image_index, label_values])),
            ("image_index", image_index),
        ]
    elif style == "vmap":
        codes = stim + 1.0
        columns = [("VoxelData", voxels), ("Run", runs), ("stimulus_name", codes)]
    else:
        raise ValueError(style)
    columns = [c for c in columns if c[0] not in drop_keys]
    if runs_per_scan_session:
        # Run numbers restart at 1 in each scanning session, told apart by a Session column.
        scan_session = (runs - 1) // runs_per_scan_session + 1
        columns = [(k, (runs - 1) % runs_per_scan_session + 1) if k == "Run" else (k, d) for k, d in columns]
        columns.append(("Session", scan_session))
    n_cols = n_vox + sum(np.asarray(d).reshape(n_trials, -1).shape[1] for _, d in columns[1:])
    extra = []

    def voxel_row(indices):
        row = np.full(n_cols, np.nan)
        row[indices] = 1
        return row

    roi_key = {roi: f"ROI_{roi}" for roi in BASE_ROIS}
    roi_key["V4"] = v4_key
    for roi in BASE_ROIS:
        extra.append((roi_key[roi], voxel_row(layout[roi])))
    if union_keys:
        extra.append(("ROI_LVC", voxel_row(np.concatenate([layout[r] for r in ("V1", "V2", "V3")]))))
        extra.append(("ROI_HVC", voxel_row(np.concatenate([layout[r] for r in ("LOC", "FFA", "PPA")]))))
        extra.append(("ROI_VC", voxel_row(np.arange(n_vox))))
    coords = rng.normal(size=n_vox)
    for axis in "xyz":
        row = np.full(n_cols, np.nan)
        row[:n_vox] = coords
        extra.append((f"voxel_{axis}", row))
    extra = [e for e in extra if e[0] not in drop_keys]
    vmap = {"stimulus_name": {float(i + 1): name + ".JPEG" for i, name in enumerate(spec.names)}} if style == "vmap" else None
    write_bdata(path, columns, extra, vmap=vmap, value_columns_delta=value_columns_delta)


def write_image(path: Path, rng: np.random.Generator, size=(20, 14)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_table(path: Path, names: list[str], values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        for k, (name, value) in enumerate(zip(names, values), start=1):
            writer.writerow([name, "%f" % value, 0, k])


def session_specs() -> dict[str, SessionSpec]:
    return {
        "NaturalImageTraining": SessionSpec([natural_name(*p) for p in TRAIN_NATURAL], [natural_float(*p) for p in TRAIN_NATURAL], 4, 4),
        "NaturalImageTest": SessionSpec([natural_name(*p) for p in TEST_NATURAL], [natural_float(*p) for p in TEST_NATURAL], 6, 3),
        # Artificial / letter ids are table numbers; 1 also appears as Label column 0 (a constant flag).
        "ArtificialImage": SessionSpec(ARTIFICIAL_NAMES, [float(k) for k in range(1, len(ARTIFICIAL_NAMES) + 1)], 4, 2),
        "LetterImage": SessionSpec(LETTER_NAMES, [100.0 + k for k in range(1, len(LETTER_NAMES) + 1)], 2, 2),
    }


def build_dataset(
    root: Path,
    *,
    subjects: tuple[str, ...] = ("sub-01",),
    style: str = "2019",
    seed: int = 0,
    tables_in_stimuli: bool = True,
    **session_kwargs,
) -> BuiltDataset:
    """A complete small dataset folder in the ds001506 layout.

    Natural images are JPEG-named PNG files under stimuli/training and stimuli/test
    (non-square, 20 x 14); artificial images are .tiff, letters .tif; the tables of
    the artificial and letter sessions sit in the stimulus folder (as public code keeps
    them) or in the root.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    built = BuiltDataset(root=root)
    specs = session_specs()
    stimuli = root / "stimuli"
    subfolder = {
        "NaturalImageTraining": ("training", ".png"),
        "NaturalImageTest": ("test", ".JPEG"),
        "ArtificialImage": ("ArtificialImage", ".tiff"),
        "LetterImage": ("LetterImage", ".tif"),
    }
    for session, spec in specs.items():
        folder, ext = subfolder[session]
        for name in spec.names:
            path = stimuli / folder / f"{name}{ext}"
            write_image(path, rng)
            built.image_files[name] = path
        if session in ("ArtificialImage", "LetterImage"):
            table_dir = stimuli if tables_in_stimuli else root
            write_table(table_dir / f"stimulus_{session}.tsv", spec.names, spec.label_values)
    for subject in subjects:
        built.files[subject] = {}
        for session, spec in specs.items():
            suffix = "_v2" if style == "v2" else ""
            path = root / f"{subject}_perception{session}_original_VC{suffix}.h5"
            write_session_file(path, spec, rng, style=style, **session_kwargs)
            built.files[subject][session] = path
    return built


#: Why a test that reads with bdpy as its independent reference is skipped where bdpy is absent.
NO_BDPY = "bdpy is not installed (bdpy 0.26 declares Requires-Python <3.12); this test's reference reading needs it"


def bdpy_module():
    """The bdpy package (the tests' independent reference); skips the calling test where it is not installed."""
    return pytest.importorskip("bdpy", reason=NO_BDPY)


def bdpy_bdata(path: Path):
    """``bdpy.BData`` of a file: the reference reading, independent of the project's loaders and reader."""
    return bdpy_module().BData(str(path))


def bdpy_zscored(path: Path, selector: str) -> np.ndarray:
    """The reference reading of a session file: the columns bdpy's ``select(selector)`` gives,
    z-scored within each run with scipy (population std), independently of the loader."""
    bdata = bdpy_bdata(path)
    x = bdata.select(selector)
    runs = bdata.select("Run")[:, 0]
    out = np.empty_like(x)
    for run in np.unique(runs):
        out[runs == run] = scipy.stats.zscore(x[runs == run], axis=0, ddof=0)
    return out
