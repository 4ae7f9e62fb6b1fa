"""Reading ds001506-layout BData files and stimulus images.

One loader reads both the real preprocessed files of Shen, Horikawa, Majima &
Kamitani (2019) (OpenNeuro ds001506) and the files written by
``reconbench simulate``: both use the same folder layout::

    <root>/
      sub-01_perceptionNaturalImageTraining_original_VC.h5   (or ..._VC_v2.h5)
      sub-01_perceptionNaturalImageTest_original_VC.h5
      sub-01_perceptionArtificialImage_original_VC.h5
      sub-01_perceptionLetterImage_original_VC.h5
      stimulus_<Session>.tsv        (optional; also searched in the stimulus folder)
      stimuli/...                   (image files in any subfolder, matched by file stem)

Preprocessing applied here (and nowhere else):

- **Per-run z-scoring.** Every voxel is z-scored within each run (mean 0,
  standard deviation 1 over the trials of that run, population standard
  deviation). This removes run-to-run offsets and slow drifts of the BOLD
  baseline that would otherwise dominate a linear decoder, as done by Shen et
  al. (2019). A voxel that is constant within a run becomes 0 in that run.
  Runs are grouped by ``(Session, Run)`` when the file has a ``Session`` key.
- **Repetition averaging** (test sessions only): trials of the same stimulus id
  are averaged after z-scoring (:func:`average_repetitions`).
- **Images**: read as RGB float32 in [0, 1]; a non-square image is
  centre-cropped to a square (the shorter side) before it is resized with the
  pinned :func:`reconbench.core.images.resize`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from reconbench.core.errors import DataError
from reconbench.core.paths import data_root
from reconbench.core.types import ALL_ROIS, BASE_ROIS, ROI_UNIONS, average_trials
from reconbench.datasets.ds001506.layout import (  # noqa: F401 - re-exported for the loader's users
    DEFAULT_REAL_IMAGE_SIZE,
    FILE_PATTERN,
    IMAGE_EXTENSIONS,
    LABEL_KEYS,
    ROI_KEYS,
    SESSIONS,
    TEST_SET_SESSIONS,
    TRAIN_SESSION,
)
from reconbench.datasets.simulated.ground_truth import simulated_image_size

# ---------------------------------------------------------------------------
# Containers


@dataclass(frozen=True)
class SessionData:
    """The trials of one session file, z-scored within run.

    Attributes
    ----------
    session : str
        Session name (``NaturalImageTraining``, ``NaturalImageTest``,
        ``ArtificialImage`` or ``LetterImage``).
    path : Path
        The ``.h5`` file read.
    fmri : mapping of str to ndarray, shape (T, V_roi), float32
        Per-run z-scored responses for each base ROI and union.
    runs : ndarray, shape (T,), int
        Run number of each trial.
    stimulus_ids : ndarray, shape (T,), str
        Stimulus id (image file stem) of each trial.
    label_source : str
        Where the ids came from, e.g. ``"Label[:, 1] (natural id pattern)"``.
    """

    session: str
    path: Path
    fmri: Mapping[str, np.ndarray]
    runs: np.ndarray
    stimulus_ids: np.ndarray
    label_source: str = ""

    @property
    def n_trials(self) -> int:
        return int(self.stimulus_ids.shape[0])

    def voxel_counts(self) -> dict[str, int]:
        """Number of voxels per ROI."""
        return {roi: int(x.shape[1]) for roi, x in self.fmri.items()}


@dataclass(frozen=True)
class SubjectData:
    """All sessions of one subject and the stimulus images they show.

    Attributes
    ----------
    subject : str
        Subject id, e.g. ``sub-01``.
    root : Path
        Dataset folder.
    sessions : mapping of str to SessionData
        Keyed by session name; only the sessions that were loaded.
    images : mapping of str to ndarray, shape (3, H, W), float32 in [0, 1]
        One square image (``H == W == image_size``) per stimulus id shown in
        any loaded session.
    image_paths : mapping of str to Path
        The file each image was read from.
    image_size : int
        Side of the square images.
    """

    subject: str
    root: Path
    sessions: Mapping[str, SessionData]
    images: Mapping[str, np.ndarray] = field(repr=False)
    image_paths: Mapping[str, Path] = field(repr=False)
    image_size: int = DEFAULT_REAL_IMAGE_SIZE


@dataclass(frozen=True)
class StimulusTable:
    """One ``stimulus_<Session>.tsv`` table (no header: name, stimulus id, category index, image index).

    Attributes
    ----------
    path : Path
    names : list of str
        Image file stems (any image extension stripped).
    by_stimulus_id : dict of str to str
        ``'%f' % stimulus_id`` -> name.
    by_image_index : dict of int to str
        Image index (4th column, when present) -> name.
    """

    path: Path
    names: list[str]
    by_stimulus_id: dict[str, str]
    by_image_index: dict[int, str]


# ---------------------------------------------------------------------------
# Files and ids


def natural_image_id(value: float) -> str:
    """Convert a float ImageNet stimulus id to its file stem.

    ``1518878.005958`` -> ``n01518878_5958``: the number is formatted with
    ``'%f'`` (six decimals, never a shortened repr) and split at the point.

    Parameters
    ----------
    value : float

    Returns
    -------
    str
    """
    text = "%f" % value
    synset, image_number = text.split(".")
    return "n%08d_%d" % (int(synset), int(image_number))


def _strip_image_extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if dot and ("." + ext.lower()) in IMAGE_EXTENSIONS:
        return stem
    return name


def _is_natural_id_column(values: np.ndarray) -> bool:
    # ImageNet synset offsets are 7-8 digit integers; the image number sits in the decimals.
    if values.size == 0 or not np.all(np.isfinite(values)):
        return False
    integer_part = np.floor(values)
    return bool(np.all(values >= 1e5) and np.all(values < 1e8) and np.all(values - integer_part > 0))


def list_subjects(root: str | Path | None = None) -> list[str]:
    """Subjects that have at least one session file in ``root``.

    Parameters
    ----------
    root : path or None
        Dataset folder; ``None`` -> :func:`reconbench.core.paths.data_root`.

    Returns
    -------
    list of str, sorted, e.g. ``["sub-01", "sub-02"]``
    """
    root = data_root(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (set --data or RECONBENCH_DATA, or run 'reconbench simulate')")
    subjects = {m.group("subject") for p in root.iterdir() if (m := FILE_PATTERN.match(p.name))}
    return sorted(subjects)


def session_file(root: str | Path, subject: str, session: str, *, required: bool = True) -> Path | None:
    """Path of one session file.

    ``..._original_VC.h5`` is preferred over ``..._original_VC_v2.h5`` when
    both exist (the 2019 files are the ones the published numbers used).

    Raises
    ------
    DataError
        If ``required`` and neither file exists.
    """
    root = Path(root)
    if session not in SESSIONS:
        raise DataError(f"unknown session {session!r}; expected one of {sorted(SESSIONS)}")
    candidates = [root / f"{subject}_perception{session}_original_VC{suffix}.h5" for suffix in ("", "_v2")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if required:
        raise DataError(
            f"missing file: {candidates[0]} (or {candidates[1].name}) for subject {subject}, session {session}; "
            f"expected the ds001506 layout (see 'reconbench data check {root}')"
        )
    return None


def default_stimuli_dir(root: str | Path) -> Path:
    """The stimulus folder used when none is given: ``<root>/stimuli``."""
    return Path(root) / "stimuli"


#: Folder (inside the dataset folder) of unlabelled images without fMRI; see :func:`list_extra_images`.
EXTRA_IMAGES_DIR = "extra_images"


def list_extra_images(root: str | Path) -> list[Path]:
    """The image files of ``<root>/extra_images/`` (recursively, sorted by relative path); [] if there is none.

    Extra images are unlabelled images a method may train on (e.g. the
    generator of divide-and-conquer); they have no fMRI. The simulator writes
    them; for ds001506 a user may put (or symlink) a folder of images there.
    They are recorded in the split manifest like the stimuli.
    """
    folder = Path(root) / EXTRA_IMAGES_DIR
    if not folder.is_dir():
        return []
    paths = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")]
    return sorted(paths, key=lambda p: p.relative_to(folder).as_posix())


def index_stimulus_images(stimuli_dir: str | Path) -> dict[str, list[Path]]:
    """Map every image file stem under ``stimuli_dir`` (recursively) to its paths.

    Returns
    -------
    dict of str to list of Path
        More than one path per stem only when several files share a stem;
        :func:`resolve_image_path` reports that as an error when the stem is used.
    """
    stimuli_dir = Path(stimuli_dir)
    index: dict[str, list[Path]] = {}
    if not stimuli_dir.is_dir():
        return index
    for path in sorted(stimuli_dir.rglob("*")):
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and not path.name.startswith("."):
            index.setdefault(path.stem, []).append(path)
    return index


def resolve_image_path(stimulus_id: str, index: Mapping[str, Sequence[Path]], *, where: str, stimuli_dir: Path) -> Path:
    """Return the one image file of ``stimulus_id`` or raise a DataError naming it and ``where`` it is used."""
    paths = index.get(stimulus_id)
    if not paths:
        raise DataError(f"label {stimulus_id!r} in {where} has no stimulus image in {stimuli_dir} (looked for {stimulus_id}.* with extensions {', '.join(IMAGE_EXTENSIONS)})")
    if len(paths) > 1:
        raise DataError(f"label {stimulus_id!r} in {where} matches several images: {', '.join(str(p) for p in paths)}; keep one")
    return paths[0]


def find_stimulus_table(root: str | Path, session: str, stimuli_dir: str | Path | None = None) -> Path | None:
    """Find ``stimulus_<session>.tsv`` in ``root``, else anywhere under the stimulus folder."""
    name = f"stimulus_{session}.tsv"
    root = Path(root)
    if (root / name).is_file():
        return root / name
    stimuli_dir = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(root)
    if stimuli_dir.is_dir():
        found = sorted(stimuli_dir.rglob(name))
        if found:
            return found[0]
    return None


def read_stimulus_table(path: str | Path) -> StimulusTable:
    """Read a headerless stimulus table (name, stimulus id, category index, image index).

    Raises
    ------
    DataError
        On a row with fewer than two columns or a stimulus id that is not a number.
    """
    path = Path(path)
    names: list[str] = []
    by_id: dict[str, str] = {}
    by_index: dict[int, str] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < 2:
                raise DataError(f"{path}, line {line_number}: expected at least 2 tab-separated columns (name, stimulus id), found {row!r}")
            name = _strip_image_extension(row[0].strip())
            try:
                stimulus_id = float(row[1])
            except ValueError:
                raise DataError(f"{path}, line {line_number}: stimulus id {row[1]!r} is not a number") from None
            names.append(name)
            by_id["%f" % stimulus_id] = name
            if len(row) >= 4 and row[3].strip():
                try:
                    by_index[int(float(row[3]))] = name
                except ValueError:
                    raise DataError(f"{path}, line {line_number}: image index {row[3]!r} is not a number") from None
    return StimulusTable(path=path, names=names, by_stimulus_id=by_id, by_image_index=by_index)


# ---------------------------------------------------------------------------
# BData reading


def _open_bdata(path: Path):
    """Load a BData file with bdpy, turning low-level failures into a DataError naming the file."""
    import bdpy

    try:
        bdata = bdpy.BData(str(path))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        # h5py raises OSError on truncated or non-HDF5 files, KeyError on missing groups.
        raise DataError(f"cannot read {path} as a BData .h5 file ({type(exc).__name__}: {exc}); re-download or regenerate it") from exc
    dataset = np.asarray(bdata.dataset)
    value = np.asarray(bdata.metadata.value)
    keys = list(bdata.metadata.key)
    if dataset.ndim != 2:
        raise DataError(f"{path}: /dataset has shape {dataset.shape}; expected 2-D (samples x columns)")
    if value.ndim != 2 or value.shape[1] != dataset.shape[1]:
        raise DataError(
            f"{path}: /metadata/value has shape {value.shape} but /dataset has {dataset.shape[1]} columns; "
            "expected one metadata value per dataset column"
        )
    if value.shape[0] != len(keys):
        raise DataError(f"{path}: /metadata/value has {value.shape[0]} rows but /metadata/key has {len(keys)} keys")
    return bdata


def _key_columns(bdata, key: str) -> np.ndarray:
    """Boolean column mask of a metadata key, via bdpy's own selector."""
    _, index = bdata.select(f"{key} = 1", return_index=True, verbose=False)
    return np.asarray(index, dtype=bool)


def _stimulus_ids(bdata, path: Path, table: StimulusTable | None) -> tuple[np.ndarray, str]:
    """Find the column that holds the stimulus of each trial and turn it into ids.

    Tries, for every column of ``stimulus_name``, ``Label``, ``stimulus_id`` and
    ``image_index``: a value map (``stimulus_name``), the stimulus table's
    stimulus ids, the ImageNet float id pattern, and the table's image index.
    Among columns that convert, the one that distinguishes most stimuli wins.
    """
    keys = list(bdata.metadata.key)
    n_trials = bdata.dataset.shape[0]
    candidates: list[tuple[int, int, str, list[str]]] = []  # (n_unique, priority, source, ids)

    if "stimulus_name" in keys and "stimulus_name" in bdata.get_vmap_keys():
        try:
            names = [_strip_image_extension(str(n)) for n in bdata.get_labels("stimulus_name")]
        except KeyError as exc:
            raise DataError(f"{path}: stimulus_name value {exc} has no entry in /vmap/stimulus_name") from None
        if "n/a" in names:
            raise DataError(f"{path}: stimulus_name is NaN on trial {names.index('n/a')}; every trial needs a stimulus")
        return np.asarray(names, dtype=str), "stimulus_name (vmap)"

    for key in LABEL_KEYS:
        if key not in keys:
            continue
        columns = np.asarray(bdata.get(key), dtype=float)
        for j in range(columns.shape[1]):
            values = columns[:, j]
            if not np.all(np.isfinite(values)):
                continue
            source = f"{key}[:, {j}]"
            formatted = ["%f" % v for v in values]
            if table is not None and all(f in table.by_stimulus_id for f in formatted):
                ids = [table.by_stimulus_id[f] for f in formatted]
                candidates.append((len(set(ids)), 2, f"{source} via {table.path.name}", ids))
            elif _is_natural_id_column(values):
                ids = [natural_image_id(v) for v in values]
                candidates.append((len(set(ids)), 2, f"{source} ImageNet ids", ids))
            elif key == "image_index" and table is not None and table.by_image_index:
                if np.all(values == np.round(values)) and all(int(v) in table.by_image_index for v in values):
                    ids = [table.by_image_index[int(v)] for v in values]
                    candidates.append((len(set(ids)), 1, f"{source} image index via {table.path.name}", ids))

    if not candidates:
        present = [k for k in LABEL_KEYS if k in keys]
        hint = f"stimulus table {table.path}" if table is not None else "no stimulus table found (stimulus_<Session>.tsv)"
        raise DataError(
            f"{path}: no label column converts to stimulus ids (label keys present: {present or 'none'}; {hint}); "
            "expected float ImageNet ids like 1518878.005958, ids listed in the stimulus table, or a stimulus_name value map"
        )
    best = max(candidates, key=lambda c: (c[0], c[1]))
    rivals = [c for c in candidates if (c[0], c[1]) == (best[0], best[1]) and c[3] != best[3]]
    if rivals:
        raise DataError(f"{path}: label columns {best[2]} and {rivals[0][2]} give different stimulus ids; cannot tell which is the stimulus")
    if len(best[3]) != n_trials:
        raise DataError(f"{path}: {len(best[3])} labels for {n_trials} trials")
    return np.asarray(best[3], dtype=str), best[2]


def read_stimulus_ids(path: str | Path, *, table: StimulusTable | None = None) -> tuple[np.ndarray, str]:
    """Read only the stimulus id of each trial of a session file.

    Returns
    -------
    ids : ndarray, shape (T,), str
    source : str
        The key and column the ids came from.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    bdata = _open_bdata(path)
    return _stimulus_ids(bdata, path, table)


def session_table(root: str | Path, session: str, stimuli_dir: str | Path | None = None) -> StimulusTable | None:
    """The stimulus table of ``session`` if one is found (see :func:`find_stimulus_table`), else None."""
    table_path = find_stimulus_table(root, session, stimuli_dir)
    return read_stimulus_table(table_path) if table_path is not None else None


def zscore_within_runs(x: np.ndarray, groups: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Z-score every column within each group of rows (population std; constant columns -> 0).

    Parameters
    ----------
    x : ndarray, shape (T, V)
    groups : ndarray, shape (T,)
        Run (or run-and-session) label of each row.
    inplace : bool
        Overwrite ``x`` (must be float64) instead of allocating; real training
        files are ~0.5 GB, so this halves the peak memory.

    Returns
    -------
    ndarray, shape (T, V), float64
    """
    if inplace and x.dtype != np.float64:
        raise ValueError("inplace z-scoring needs a float64 array")
    out = x if inplace else np.empty(x.shape, dtype=np.float64)
    for group in np.unique(groups):
        rows = groups == group
        block = x[rows].astype(np.float64)
        mean = block.mean(axis=0)
        std = block.std(axis=0)
        # A voxel constant within a run carries no information there; 0 instead of 0/0.
        safe_std = np.where(std > 0, std, 1.0)
        out[rows] = np.where(std > 0, (block - mean) / safe_std, 0.0)
    return out


def read_session(path: str | Path, session: str, *, table: StimulusTable | None = None) -> SessionData:
    """Read one session file: voxels per ROI (z-scored within run), runs and stimulus ids.

    Parameters
    ----------
    path : path
        A ``*_perception<Session>_original_VC[_v2].h5`` BData file.
    session : str
        Its session name (a key of :data:`SESSIONS`).
    table : StimulusTable, optional
        The session's stimulus table, used to turn numeric labels into names.

    Returns
    -------
    SessionData

    Raises
    ------
    DataError
        Unreadable or truncated file, wrong shapes, a missing ``Run`` or ROI
        key, NaN/inf voxel values, or labels that do not convert to ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    bdata = _open_bdata(path)
    keys = list(bdata.metadata.key)
    dataset = np.asarray(bdata.dataset, dtype=np.float64)
    n_trials = dataset.shape[0]
    if n_trials == 0:
        raise DataError(f"{path}: /dataset has no rows (trials)")

    # Columns of each base ROI (bdpy's selector), then the unions.
    roi_columns: dict[str, np.ndarray] = {}
    for roi in BASE_ROIS:
        key = next((k for k in ROI_KEYS[roi] if k in keys), None)
        if key is None:
            roi_keys = sorted(k for k in keys if k.startswith("ROI_"))
            raise DataError(f"{path}: missing ROI key {' or '.join(ROI_KEYS[roi])} for ROI {roi}; keys present: {roi_keys}")
        mask = _key_columns(bdata, key)
        if not mask.any():
            raise DataError(f"{path}: ROI key {key} marks no columns")
        roi_columns[roi] = mask
    for union, members in ROI_UNIONS.items():
        key = f"ROI_{union}"
        if key in keys and _key_columns(bdata, key).any():
            roi_columns[union] = _key_columns(bdata, key)
        else:
            roi_columns[union] = np.logical_or.reduce([roi_columns[m] for m in members])

    voxel_mask = np.logical_or.reduce(list(roi_columns.values()))
    if "VoxelData" in keys:
        voxel_data = _key_columns(bdata, "VoxelData")
        outside = voxel_mask & ~voxel_data
        if outside.any():
            raise DataError(f"{path}: {int(outside.sum())} ROI columns are not VoxelData columns (first column {int(np.flatnonzero(outside)[0])})")

    voxels = dataset[:, voxel_mask]
    bad = ~np.isfinite(voxels)
    if bad.any():
        trial, column = np.argwhere(bad)[0]
        file_column = int(np.flatnonzero(voxel_mask)[column])
        raise DataError(
            f"{path}: {int(bad.sum())} NaN/inf voxel values (first at trial {int(trial)}, dataset column {file_column}, "
            f"value {voxels[trial, column]}); expected finite voxel data"
        )

    if "Run" not in keys:
        raise DataError(f"{path}: missing key 'Run' (the run of each trial, needed for per-run z-scoring)")
    run_columns = np.asarray(bdata.get("Run"), dtype=float)
    if run_columns.shape != (n_trials, 1) or not np.all(np.isfinite(run_columns)):
        raise DataError(f"{path}: 'Run' has shape {run_columns.shape} with finite values expected in shape ({n_trials}, 1)")
    runs = run_columns[:, 0].astype(np.int64)
    groups = runs
    if "Session" in keys:
        session_column = np.asarray(bdata.get("Session"), dtype=float)
        if session_column.shape == (n_trials, 1) and np.all(np.isfinite(session_column)):
            # Run numbers restart in each scanning session in some files; z-score per (session, run).
            _, groups = np.unique(np.column_stack([session_column[:, 0], runs]), axis=0, return_inverse=True)
            groups = groups.ravel()

    stimulus_ids, label_source = _stimulus_ids(bdata, path, table)
    del dataset, bdata
    z = zscore_within_runs(voxels, groups, inplace=True).astype(np.float32)
    del voxels
    voxel_positions = np.flatnonzero(voxel_mask)
    fmri = {}
    for roi, mask in roi_columns.items():
        columns_in_voxels = np.searchsorted(voxel_positions, np.flatnonzero(mask))
        fmri[roi] = np.ascontiguousarray(z[:, columns_in_voxels])
    return SessionData(session=session, path=path, fmri=fmri, runs=runs, stimulus_ids=stimulus_ids, label_source=label_source)


def average_repetitions(fmri: Mapping[str, np.ndarray], stimulus_ids: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Average trials per stimulus id.

    Parameters
    ----------
    fmri : mapping of str to ndarray, shape (T, V_roi)
    stimulus_ids : ndarray, shape (T,)

    Returns
    -------
    ids : ndarray, shape (M,), str
        Unique ids, sorted.
    averaged : dict of str to ndarray, shape (M, V_roi), float32
    counts : ndarray, shape (M,), int
        Repetitions averaged for each id.
    """
    ids, inverse, counts = np.unique(np.asarray(stimulus_ids, dtype=str), return_inverse=True, return_counts=True)
    averaged = {roi: average_trials(x, inverse, ids.shape[0]) for roi, x in fmri.items()}
    return ids, averaged, counts


# ---------------------------------------------------------------------------
# Images


def default_image_size(root: str | Path) -> int:
    """Native image size of a simulated dataset (its ``simulation.json``), else 256."""
    size = simulated_image_size(root)
    return DEFAULT_REAL_IMAGE_SIZE if size is None else size


def center_crop_square(image: np.ndarray) -> np.ndarray:
    """Crop the central square (side = shorter side) of an image of shape (C, H, W)."""
    _, height, width = image.shape
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[:, top : top + side, left : left + side]


def load_stimulus_image(path: str | Path, image_size: int) -> np.ndarray:
    """Read one image, centre-crop it to a square and resize it.

    Returns
    -------
    ndarray, shape (3, image_size, image_size), float32 in [0, 1]
    """
    return load_stimulus_images([path], image_size)[0]


def load_stimulus_images(paths: Sequence[str | Path], image_size: int, *, on_read=None) -> list[np.ndarray]:
    """Read images, centre-crop each to a square and resize them (batched by size).

    Parameters
    ----------
    paths : sequence of path
    image_size : int
    on_read : callable, optional
        Called once per image read (progress bars).

    Returns
    -------
    list of ndarray, shape (3, image_size, image_size), float32 in [0, 1], in the order of ``paths``
    """
    from reconbench.core.images import read_image, resize

    squares = []
    for path in paths:
        try:
            image = read_image(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read stimulus image {path}: {exc}") from exc
        squares.append(center_crop_square(image))
        if on_read is not None:
            on_read()
    out: list[np.ndarray | None] = [None] * len(squares)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, square in enumerate(squares):
        by_shape.setdefault(square.shape, []).append(position)
    for positions in by_shape.values():
        # Resizing is per image (resize is pointwise over the batch); batches only save call overhead.
        for start in range(0, len(positions), 64):
            chunk = positions[start : start + 64]
            resized = resize(np.stack([squares[p] for p in chunk]), image_size)
            for p, image in zip(chunk, resized):
                out[p] = image
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Subject


def _progress(enabled: bool):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import Progress

    return Progress(transient=True)


def load_subject(
    root: str | Path | None,
    subject: str,
    *,
    stimuli_dir: str | Path | None = None,
    image_size: int | None = None,
    progress: bool = False,
    sessions: Iterable[str] | None = None,
) -> SubjectData:
    """Load the sessions of one subject and the images they show.

    Parameters
    ----------
    root : path or None
        Dataset folder; ``None`` -> ``$RECONBENCH_DATA`` (see :func:`reconbench.core.paths.data_root`).
    subject : str
        e.g. ``"sub-01"``.
    stimuli_dir : path, optional
        Stimulus image folder (default ``<root>/stimuli``); searched recursively,
        images matched to ids by file stem.
    image_size : int, optional
        Side of the square images returned. ``None``: the simulated dataset's
        native size (``ground_truth/simulation.json``), else 256.
    progress : bool
        Show a progress bar.
    sessions : iterable of str, optional
        Session names to load (default: all four). Each must exist.

    Returns
    -------
    SubjectData
        fMRI z-scored within run (see the module docstring) and images
        centre-cropped to a square, then resized.

    Raises
    ------
    DataError
        A missing or malformed file, a missing ROI key, NaN/inf voxels, or a
        label without a stimulus image.
    """
    root = data_root(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (pass --data or set RECONBENCH_DATA, or run 'reconbench simulate')")
    stimuli_dir = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(root)
    if image_size is None:
        image_size = default_image_size(root)
    wanted = list(SESSIONS) if sessions is None else list(sessions)
    for name in wanted:
        if name not in SESSIONS:
            raise DataError(f"unknown session {name!r}; expected one of {list(SESSIONS)}")

    paths = {name: session_file(root, subject, name) for name in wanted}
    index = index_stimulus_images(stimuli_dir)
    loaded: dict[str, SessionData] = {}
    image_paths: dict[str, Path] = {}
    with _progress(progress) as bar:
        task = bar.add_task(f"{subject}: sessions", total=len(paths)) if bar is not None else None
        for name, path in paths.items():
            table_path = find_stimulus_table(root, name, stimuli_dir)
            table = read_stimulus_table(table_path) if table_path is not None else None
            loaded[name] = read_session(path, name, table=table)
            for stimulus_id in np.unique(loaded[name].stimulus_ids):
                image_paths[str(stimulus_id)] = resolve_image_path(str(stimulus_id), index, where=str(path), stimuli_dir=stimuli_dir)
            if bar is not None:
                bar.advance(task)
        task = bar.add_task(f"{subject}: images", total=len(image_paths)) if bar is not None else None
        ordered = sorted(image_paths)
        loaded_images = load_stimulus_images(
            [image_paths[i] for i in ordered], image_size, on_read=(lambda: bar.advance(task)) if bar is not None else None
        )
        images = dict(zip(ordered, loaded_images))
    return SubjectData(subject=subject, root=root, sessions=loaded, images=images, image_paths=image_paths, image_size=int(image_size))


# ---------------------------------------------------------------------------
# data check


def check_data(root: str | Path | None = None, stimuli_dir: str | Path | None = None) -> None:
    """Print subjects, sessions, ROIs with voxel counts, trials, repetitions and missing stimuli.

    Every file is read; problems are listed together at the end.

    Raises
    ------
    DataError
        If any file is missing or malformed or any stimulus image is missing
        (after printing everything that could be read).
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    root = data_root(root)
    console = Console()
    subjects = list_subjects(root)
    stimuli_dir = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(root)
    if not subjects:
        raise DataError(f"no session files (sub-XX_perception<Session>_original_VC.h5) in {root}")
    index = index_stimulus_images(stimuli_dir)
    console.print(f"[bold]data[/bold] {escape(str(root))}", soft_wrap=True)
    console.print(f"[bold]stimuli[/bold] {escape(str(stimuli_dir))} ({sum(len(v) for v in index.values())} image files)", soft_wrap=True)
    extra = list_extra_images(root)
    console.print(
        f"[bold]extra images[/bold] {escape(str(root / EXTRA_IMAGES_DIR))} ({len(extra)} image files)" if extra
        else f"[bold]extra images[/bold] none ({EXTRA_IMAGES_DIR}/ folder absent or empty; optional)",
        soft_wrap=True,
    )
    manifest = root / "reconbench_split.json"
    console.print(
        f"[bold]split manifest[/bold] {escape(str(manifest))}" if manifest.is_file()
        else "[bold]split manifest[/bold] none yet (written on the first load of a split)",
        soft_wrap=True,
    )
    problems: list[str] = []
    for subject in subjects:
        sessions_table = Table(title=f"{subject}: sessions")
        for column in ("session", "trials", "runs", "stimuli", "repetitions", "missing stimuli"):
            sessions_table.add_column(column)
        label_sources: list[str] = []
        roi_table = Table(title=f"{subject}: voxels per ROI")
        roi_table.add_column("session")
        for roi in ALL_ROIS:
            roi_table.add_column(roi, justify="right")
        for name in SESSIONS:
            path = session_file(root, subject, name, required=False)
            if path is None:
                problems.append(f"missing file: {root / f'{subject}_perception{name}_original_VC.h5'} (or _VC_v2.h5) for {subject}, session {name}")
                sessions_table.add_row(name, "[red]file missing[/red]", "", "", "", "")
                continue
            try:
                table_path = find_stimulus_table(root, name, stimuli_dir)
                table = read_stimulus_table(table_path) if table_path is not None else None
                data = read_session(path, name, table=table)
            except DataError as exc:
                problems.append(str(exc))
                sessions_table.add_row(name, "[red]unreadable[/red]", "", "", "", "")
                continue
            ids, counts = np.unique(data.stimulus_ids, return_counts=True)
            missing = [str(i) for i in ids if len(index.get(str(i), [])) != 1]
            for stimulus_id in missing:
                found = index.get(stimulus_id, [])
                what = "no image" if not found else f"{len(found)} images"
                problems.append(f"label {stimulus_id!r} in {path}: {what} in {stimuli_dir}")
            repetitions = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
            missing_text = "0" if not missing else f"[red]{len(missing)}[/red] ({escape(', '.join(missing[:3]))}{', ...' if len(missing) > 3 else ''})"
            sessions_table.add_row(
                name, str(data.n_trials), str(len(np.unique(data.runs))), str(len(ids)), repetitions, missing_text
            )
            label_sources.append(f"  {name}: {path.name}, stimulus ids from {data.label_source}")
            counts_by_roi = data.voxel_counts()
            roi_table.add_row(name, *[str(counts_by_roi[r]) for r in ALL_ROIS])
        console.print(sessions_table)
        for line in label_sources:
            console.print(escape(line), highlight=False, soft_wrap=True)
        console.print(roi_table)
    if problems:
        for problem in problems:
            console.print(f"[red]problem:[/red] {escape(problem)}", highlight=False, soft_wrap=True)
        raise DataError(f"{len(problems)} problem(s) in {root}; first: {problems[0]}")
    console.print("[green]all files readable, every label has one stimulus image[/green]")
