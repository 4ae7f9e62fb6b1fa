"""Reading GOD BData files: one file per subject, sessions told apart by ``DataType``.

Every session is decoded from its own trials only (:func:`reconbench.datasets.ds001506.bdata.decode_session`
with a row mask): per-run z-scoring never mixes training and test trials, and
the training split is built from ``DataType == 1`` alone. Facts about the
files, and where they were checked, are in :mod:`.layout`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from reconbench.core.errors import DataError
from reconbench.datasets.ds001506.bdata import SessionData, decode_session, decode_stimulus_ids, open_bdata
from reconbench.datasets.ds001506.layout import LABEL_KEYS
from reconbench.datasets.ds001506.stimuli import StimulusTable
from reconbench.datasets.god.layout import DATATYPES, FILE_EXTENSIONS, FILE_PATTERN, SESSIONS


def list_subjects(root: str | Path) -> list[str]:
    """Subjects with a ``Subject<N>.h5`` (or ``.mat``) file in ``root``, sorted by number."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (pass --data or set RECONBENCH_DATA)")
    subjects = {m.group("subject") for p in root.iterdir() if (m := FILE_PATTERN.match(p.name))}
    return sorted(subjects, key=lambda s: int(s[len("Subject") :]))


def subject_file(root: str | Path, subject: str, *, required: bool = True) -> Path | None:
    """``<root>/<subject>.h5``, else ``<root>/<subject>.mat``.

    Raises
    ------
    DataError
        If ``required`` and neither exists.
    """
    root = Path(root)
    candidates = [root / f"{subject}{ext}" for ext in FILE_EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if required:
        raise DataError(
            f"missing file: {candidates[0]} (or {candidates[1].name}) for subject {subject}; "
            f"expected the GOD (ds001246) layout, one BData file per subject (see 'reconbench data check {root}')"
        )
    return None


def _datatype_rows(bdata, path: Path) -> dict[str, np.ndarray]:
    """Boolean trial mask of each session present in the file (sessions without trials are left out)."""
    keys = list(bdata.metadata.key)
    if "DataType" not in keys:
        raise DataError(f"{path}: missing key 'DataType' (1 training, 2 test perception, 3 test imagery); is this a GOD file?")
    column = np.asarray(bdata.get("DataType"), dtype=float)
    if column.ndim != 2 or column.shape[1] != 1 or not np.all(np.isfinite(column)):
        raise DataError(f"{path}: 'DataType' has shape {column.shape}; expected one finite column")
    values = column[:, 0]
    unknown = sorted(set(values.tolist()) - set(float(v) for v in DATATYPES.values()))
    if unknown:
        raise DataError(f"{path}: DataType values {unknown} are none of 1 (training), 2 (test perception), 3 (test imagery)")
    return {session: values == code for session, code in DATATYPES.items() if np.any(values == code)}


def _imagery_ids(bdata, path: Path, rows: np.ndarray) -> tuple[np.ndarray, str]:
    """Ids of imagery trials: an integer label is a category (``n%08d``), a label with decimals an image id."""
    keys = list(bdata.metadata.key)
    for key in ("stimulus_id", "Label"):
        if key not in keys:
            continue
        columns = np.asarray(bdata.get(key), dtype=float)[rows]
        for j in range(columns.shape[1]):
            values = columns[:, j]
            if not (np.all(np.isfinite(values)) and np.all(values >= 1e5) and np.all(values < 1e8)):
                continue
            ids = ["n%08d" % int(v) if v == np.floor(v) else "n%08d_%d" % tuple(int(p) for p in ("%f" % v).split(".")) for v in values]
            return np.asarray(ids, dtype=str), f"{key}[:, {j}] (imagery: synset, or ImageNet id)"
    present = [k for k in LABEL_KEYS if k in keys]
    raise DataError(f"{path}: no label column of the imagery trials holds ImageNet synset or image ids (label keys present: {present or 'none'})")


def read_subject(
    path: str | Path, sessions: Iterable[str] | None = None, *, tables: Mapping[str, StimulusTable | None] | None = None
) -> dict[str, SessionData]:
    """Decode the sessions of one GOD file.

    Parameters
    ----------
    path : path
        ``Subject<N>.h5`` or ``.mat``.
    sessions : iterable of str, optional
        Session names (keys of :data:`SESSIONS`); default: every session with trials.
        A requested session without trials is an error naming the file.
    tables : mapping of session -> StimulusTable, optional

    Returns
    -------
    dict of str to SessionData
        Each z-scored within run over its own trials only.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    bdata = open_bdata(path)
    rows = _datatype_rows(bdata, path)
    wanted = list(rows) if sessions is None else list(sessions)
    out = {}
    for session in wanted:
        if session not in SESSIONS:
            raise DataError(f"unknown GOD session {session!r}; expected one of {list(SESSIONS)}")
        if session not in rows:
            raise DataError(f"{path}: no trials with DataType {DATATYPES[session]} (session {session})")
        table = (tables or {}).get(session)
        ids = _imagery_ids(bdata, path, rows[session]) if session == "Imagery" and table is None else None
        out[session] = decode_session(bdata, path, session, table=table, rows=rows[session], ids=ids)
    return out


def read_subject_ids(path: str | Path, *, tables: Mapping[str, StimulusTable | None] | None = None) -> dict[str, tuple[np.ndarray, str]]:
    """Stimulus id of every trial of every session present: ``{session: (ids (T,), source)}``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    bdata = open_bdata(path)
    out = {}
    for session, rows in _datatype_rows(bdata, path).items():
        table = (tables or {}).get(session)
        if session == "Imagery" and table is None:
            out[session] = _imagery_ids(bdata, path, rows)
        else:
            out[session] = decode_stimulus_ids(bdata, path, table, rows)
    return out
