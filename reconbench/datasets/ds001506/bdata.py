"""BData decoding: one session file -> per-ROI voxel matrices, runs and stimulus ids.

Preprocessing applied here (and nowhere else):

- **Per-run z-scoring.** Every voxel is z-scored within each run (mean 0,
  standard deviation 1 over the trials of that run, population standard
  deviation). This removes run-to-run offsets and slow drifts of the BOLD
  baseline that would otherwise dominate a linear decoder, as done by Shen et
  al. (2019). A voxel that is constant within a run becomes 0 in that run.
  Runs are grouped by ``(Session, Run)`` when the file has a ``Session`` key.
- **Repetition averaging** (test sessions only): trials of the same stimulus id
  are averaged after z-scoring (:func:`average_repetitions`, with the one
  averaging function :func:`reconbench.core.types.average_trials`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from reconbench.core.bdata_choice import bdata_reader
from reconbench.core.errors import DataError
from reconbench.core.types import BASE_ROIS, ROI_UNIONS, average_trials
from reconbench.datasets.ds001506.layout import LABEL_KEYS, ROI_KEYS
from reconbench.datasets.ds001506.stimuli import StimulusTable, _is_natural_id_column, _strip_image_extension, natural_image_id


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


def open_bdata(path: Path):
    """Load a BData file, turning low-level failures into a DataError naming the file.

    The reader is bdpy's ``BData`` where bdpy is installed, else the project's
    :class:`~reconbench.datasets.bdata_reader.BDataFile` (same results on the part
    of the interface used here; ``$RECONBENCH_BDATA_READER`` forces one, see
    :func:`reconbench.core.bdata_choice.bdata_reader`).
    """
    if bdata_reader() == "bdpy":
        from bdpy import BData as reader
    else:
        from reconbench.datasets.bdata_reader import BDataFile as reader
    try:
        bdata = reader(str(path))
    except NotImplementedError as exc:
        # scipy.io.loadmat (both readers' .mat route) refuses MATLAB v7.3 files, which are HDF5 inside.
        raise DataError(
            f"cannot read {path}: a MATLAB v7.3 .mat file, which scipy (and bdpy) cannot read ({exc}); "
            "save it as MATLAB v7 (save(..., '-v7')) or convert it to a BData .h5 file"
        ) from exc
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
            f"{path}: /metadata/value has shape {value.shape} but /dataset has {dataset.shape[1]} columns; expected one metadata value per dataset column"
        )
    if value.shape[0] != len(keys):
        raise DataError(f"{path}: /metadata/value has {value.shape[0]} rows but /metadata/key has {len(keys)} keys")
    return bdata


def _key_columns(bdata, key: str) -> np.ndarray:
    """Boolean column mask of a metadata key, via the reader's selector (bdpy's, or the same rule)."""
    _, index = bdata.select(f"{key} = 1", return_index=True, verbose=False)
    return np.asarray(index, dtype=bool)


def _stimulus_ids(bdata, path: Path, table: StimulusTable | None, rows: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Find the column that holds the stimulus of each trial and turn it into ids.

    Tries, for every column of ``stimulus_name``, ``Label``, ``stimulus_id`` and
    ``image_index``: a value map (``stimulus_name``), the stimulus table's
    stimulus ids, the ImageNet float id pattern, and the table's image index.
    Among columns that convert, the one that distinguishes most stimuli wins.
    ``rows`` (boolean, shape (T,)) restricts everything to those trials (one
    session of a file that holds several, as the GOD files do).
    """
    keys = list(bdata.metadata.key)
    n_trials = bdata.dataset.shape[0] if rows is None else int(np.count_nonzero(rows))
    candidates: list[tuple[int, int, str, list[str]]] = []  # (n_unique, priority, source, ids)

    if "stimulus_name" in keys and "stimulus_name" in bdata.get_vmap_keys():
        try:
            names = [_strip_image_extension(str(n)) for n in bdata.get_labels("stimulus_name")]
            if rows is not None:
                names = [n for n, keep in zip(names, rows) if keep]
        except KeyError as exc:
            raise DataError(f"{path}: stimulus_name value {exc} has no entry in /vmap/stimulus_name") from None
        if "n/a" in names:
            raise DataError(f"{path}: stimulus_name is NaN on trial {names.index('n/a')}; every trial needs a stimulus")
        return np.asarray(names, dtype=str), "stimulus_name (vmap)"

    for key in LABEL_KEYS:
        if key not in keys:
            continue
        columns = np.asarray(bdata.get(key), dtype=float)
        if rows is not None:
            columns = columns[rows]
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
    bdata = open_bdata(path)
    return _stimulus_ids(bdata, path, table)


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
    return decode_session(open_bdata(path), path, session, table=table)


def decode_session(
    bdata,
    path: Path,
    session: str,
    *,
    table: StimulusTable | None = None,
    rows: np.ndarray | None = None,
    ids: tuple[np.ndarray, str] | None = None,
) -> SessionData:
    """Decode the trials of one session from an opened BData file (see :func:`read_session`).

    Parameters
    ----------
    bdata : bdpy.BData or BDataFile
        As returned by :func:`open_bdata`.
    path : Path
        The file it was read from (for messages).
    session : str
    table : StimulusTable, optional
    rows : ndarray of bool, shape (T_file,), optional
        The trials of this session when the file holds several sessions (GOD's
        ``DataType``); z-scoring then sees these trials only, so no statistic of
        one session reaches another.
    ids : (ndarray (T,), str), optional
        The stimulus ids and their source when the caller decoded them
        (otherwise the label columns are searched).

    Returns
    -------
    SessionData
    """
    keys = list(bdata.metadata.key)
    dataset = np.asarray(bdata.dataset, dtype=np.float64)
    if rows is not None:
        dataset = dataset[rows]
    n_trials = dataset.shape[0]
    if n_trials == 0:
        raise DataError(f"{path}: /dataset has no rows (trials)" + ("" if rows is None else f" for session {session}"))
    # Columns of each base ROI (the reader's selector), then the unions.
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
    if rows is not None:
        run_columns = run_columns[rows]
    if run_columns.shape != (n_trials, 1) or not np.all(np.isfinite(run_columns)):
        raise DataError(f"{path}: 'Run' has shape {run_columns.shape} with finite values expected in shape ({n_trials}, 1)")
    runs = run_columns[:, 0].astype(np.int64)
    groups = runs
    if "Session" in keys:
        session_column = np.asarray(bdata.get("Session"), dtype=float)
        if rows is not None:
            session_column = session_column[rows]
        if session_column.shape == (n_trials, 1) and np.all(np.isfinite(session_column)):
            # Run numbers restart in each scanning session in some files; z-score per (session, run).
            _, groups = np.unique(np.column_stack([session_column[:, 0], runs]), axis=0, return_inverse=True)
            groups = groups.ravel()

    stimulus_ids, label_source = ids if ids is not None else _stimulus_ids(bdata, path, table, rows)
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


#: Public name of the label-column search, for readers of other layouts that hold several sessions per file.
decode_stimulus_ids = _stimulus_ids
