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

This module holds what one subject of this layout is (:class:`SubjectData`), its
subjects and session files; its session files are decoded by :mod:`.bdata`
(per-run z-scoring, repetition averaging) and its stimulus images read by
:mod:`.stimuli` (public names of both re-exported here). One loader assembles a
subject in either layout: :func:`reconbench.datasets.layouts.load_held_subject`.
``reconbench data check`` is :mod:`.check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from reconbench.core.errors import DataError
from reconbench.core.paths import data_root
from reconbench.datasets.ds001506.bdata import (  # noqa: F401 - re-exported: the loader's public names
    SessionData,
    average_repetitions,
    read_session,
    read_stimulus_ids,
    zscore_within_runs,
)
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
from reconbench.datasets.ds001506.stimuli import (  # noqa: F401 - re-exported: the loader's public names
    EXTRA_IMAGES_DIR,
    StimulusTable,
    center_crop_square,
    default_image_size,
    default_stimuli_dir,
    find_stimulus_table,
    index_stimulus_images,
    list_extra_images,
    load_stimulus_image,
    load_stimulus_images,
    natural_image_id,
    read_stimulus_table,
    resolve_image_path,
    session_table,
)

# ---------------------------------------------------------------------------
# Containers


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


# ---------------------------------------------------------------------------
# Subject
