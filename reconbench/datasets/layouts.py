"""The file layouts a data folder can hold, and what reads each of them.

Two layouts, both BData files read with bdpy:

- ``ds001506`` (Shen et al. 2019): one file per subject and session,
  ``sub-XX_perception<Session>_original_VC[_v2].h5`` (:mod:`.ds001506`);
- ``god`` (Generic Object Decoding, OpenNeuro ds001246): one file per subject,
  ``Subject<N>.h5`` (or ``.mat``), sessions told apart by ``DataType`` (:mod:`.god`).

:func:`detect_layout` tells them apart by file names. A subject is held as the
user has it: the training session and at least one test session must be present;
absent test sessions are listed by ``data check`` and not scored. A missing
training file, or a subject whose sessions disagree on the voxels of an ROI, is
an error naming the file(s).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from reconbench.core.errors import DataError
from reconbench.core.paths import data_root
from reconbench.datasets.ds001506 import layout as ds_layout
from reconbench.datasets.ds001506.loader import (
    SessionData,
    SubjectData,
    default_image_size,
    default_stimuli_dir,
    index_stimulus_images,
    load_stimulus_images,
    read_session,
    read_stimulus_ids,
    resolve_image_path,
    session_file,
    session_table,
)
from reconbench.datasets.ds001506.loader import list_subjects as ds_list_subjects
from reconbench.datasets.god import layout as god_layout
from reconbench.datasets.god import loader as god_loader

#: ``(session, file or None if absent, SessionData, or the DataError that reading it raised, or None if absent)``.
SessionRead = tuple[str, Path | None, "SessionData | DataError | None"]


@dataclass(frozen=True)
class Layout:
    """One file layout: its sessions and how to read them.

    Attributes
    ----------
    name : str
        ``"ds001506"`` or ``"god"``.
    title : str
        Human-readable name, used in messages.
    sessions : mapping of str to str
        Session name -> the split part it feeds (``train``, ``natural``, ...).
    train_session : str
    file_hint : str
        The file names this layout expects, for messages.
    optional_image_sessions : tuple of str
        Sessions whose stimuli may lack images (GOD imagery): listed but not scored then.
    """

    name: str
    title: str
    sessions: Mapping[str, str]
    train_session: str
    file_hint: str
    optional_image_sessions: tuple[str, ...] = ()
    _list_subjects: Callable[[Path], list[str]] = field(default=None, repr=False)
    _iter_sessions: Callable[..., Iterator[SessionRead]] = field(default=None, repr=False)
    _subject_files: Callable[[Path, str], list[Path]] = field(default=None, repr=False)
    _training_file: Callable[[Path, str], Path] = field(default=None, repr=False)

    @property
    def test_set_sessions(self) -> dict[str, str]:
        """Test-set name -> session name."""
        return {part: session for session, part in self.sessions.items() if part != "train"}

    def list_subjects(self, root: str | Path) -> list[str]:
        """Subjects with at least one file of this layout in ``root``."""
        return self._list_subjects(Path(root))

    def subject_files(self, root: str | Path, subject: str) -> list[Path]:
        """The files of ``subject`` present in ``root``."""
        return self._subject_files(Path(root), subject)

    def iter_sessions(self, root: str | Path, subject: str, tables: Mapping, *, ids_only: bool = False) -> Iterator[SessionRead]:
        """Every session of the layout for ``subject``, in layout order: read, failed or absent.

        ``ids_only``: the SessionData holds stimulus ids (and the file) only, no voxels.
        """
        return self._iter_sessions(Path(root), subject, tables, ids_only)

    def require_training(self, root: str | Path, subject: str) -> Path:
        """The training file of ``subject``; a DataError naming it if it is absent."""
        return self._training_file(Path(root), subject)


# ---------------------------------------------------------------------------
# ds001506


def _ds_iter(root: Path, subject: str, tables: Mapping, ids_only: bool) -> Iterator[SessionRead]:
    for name in ds_layout.SESSIONS:
        path = session_file(root, subject, name, required=False)
        if path is None:
            yield name, None, None
            continue
        try:
            if ids_only:
                ids, source = read_stimulus_ids(path, table=tables.get(name))
                yield name, path, SessionData(session=name, path=path, fmri={}, runs=np.zeros(0, np.int64), stimulus_ids=ids, label_source=source)
            else:
                yield name, path, read_session(path, name, table=tables.get(name))
        except DataError as exc:
            yield name, path, exc


def _ds_files(root: Path, subject: str) -> list[Path]:
    return [p for name in ds_layout.SESSIONS if (p := session_file(root, subject, name, required=False)) is not None]


DS001506 = Layout(
    name="ds001506",
    title="ds001506 (Shen et al. 2019)",
    sessions=ds_layout.SESSIONS,
    train_session=ds_layout.TRAIN_SESSION,
    file_hint="sub-XX_perception<Session>_original_VC.h5",
    _list_subjects=ds_list_subjects,
    _iter_sessions=_ds_iter,
    _subject_files=_ds_files,
    _training_file=lambda root, subject: session_file(root, subject, ds_layout.TRAIN_SESSION),
)


# ---------------------------------------------------------------------------
# GOD (ds001246)


def _god_iter(root: Path, subject: str, tables: Mapping, ids_only: bool) -> Iterator[SessionRead]:
    path = god_loader.subject_file(root, subject, required=False)
    if path is None:
        for name in god_layout.SESSIONS:
            yield name, None, None
        return
    try:
        if ids_only:
            read = {
                name: SessionData(session=name, path=path, fmri={}, runs=np.zeros(0, np.int64), stimulus_ids=ids, label_source=source)
                for name, (ids, source) in god_loader.read_subject_ids(path, tables=tables).items()
            }
        else:
            read = god_loader.read_subject(path, tables=tables)
    except DataError as exc:
        for name in god_layout.SESSIONS:
            yield name, path, exc
        return
    for name in god_layout.SESSIONS:
        yield name, (path if name in read else None), read.get(name)


def _god_training(root: Path, subject: str) -> Path:
    path = god_loader.subject_file(root, subject)
    return path


GOD = Layout(
    name="god",
    title="GOD (ds001246, Horikawa & Kamitani 2017)",
    sessions=god_layout.SESSIONS,
    train_session=god_layout.TRAIN_SESSION,
    file_hint="Subject<N>.h5 (or .mat)",
    optional_image_sessions=god_layout.OPTIONAL_IMAGE_SESSIONS,
    _list_subjects=god_loader.list_subjects,
    _iter_sessions=_god_iter,
    _subject_files=lambda root, subject: [p] if (p := god_loader.subject_file(root, subject, required=False)) else [],
    _training_file=_god_training,
)

#: Layout name -> :class:`Layout`.
LAYOUTS: dict[str, Layout] = {"ds001506": DS001506, "god": GOD}


def layouts_found(root: str | Path) -> list[Layout]:
    """The layouts whose files ``root`` holds (usually one)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for layout in LAYOUTS.values():
        if layout.list_subjects(root):
            found.append(layout)
    return found


def detect_layout(root: str | Path | None = None) -> Layout:
    """The layout of the data folder ``root``.

    Raises
    ------
    DataError
        The folder does not exist, holds no file of any layout, or holds files of both.
    """
    root = data_root(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (pass --data or set RECONBENCH_DATA)")
    found = layouts_found(root)
    if not found:
        hints = "; ".join(f"{layout.title}: {layout.file_hint}" for layout in LAYOUTS.values())
        raise DataError(f"no session files in {root}; expected one of the layouts {hints}")
    if len(found) > 1:
        raise DataError(f"{root} holds files of several layouts ({', '.join(layout.name for layout in found)}); keep one dataset per folder")
    return found[0]


def require_layout(root: str | Path, expected: str) -> Layout:
    """The layout of ``root``, which must be ``expected`` (a key of :data:`LAYOUTS`).

    Raises
    ------
    DataError
        The folder holds another layout: the message names the layout found and what to pass instead.
    """
    found = detect_layout(root)
    if found.name != expected:
        wanted = LAYOUTS[expected]
        raise DataError(
            f"{root} holds the {found.title} layout ({found.file_hint}), not the {wanted.title} layout ({wanted.file_hint}) "
            f"that --dataset {expected} reads; pass --dataset {found.name} for this folder"
        )
    return found


def session_tables(root: Path, layout: Layout, stimuli_dir: Path) -> dict:
    """The stimulus table (``stimulus_<Session>.tsv``) of each session of ``layout``, None where absent."""
    return {name: session_table(root, name, stimuli_dir) for name in layout.sessions}


# ---------------------------------------------------------------------------
# A subject as held


@dataclass(frozen=True)
class HeldSubject:
    """A subject's sessions as the folder holds them.

    Attributes
    ----------
    data : SubjectData
        The sessions read and the images of every scorable stimulus.
    layout : Layout
    absent : tuple of str
        Sessions of the layout without a file (or without trials).
    unscored : dict of str to str
        Sessions read but not scorable (imagery without images) -> why.
    """

    data: SubjectData
    layout: Layout
    absent: tuple[str, ...]
    unscored: dict[str, str]

    @property
    def scorable_test_sets(self) -> list[str]:
        """Test sets present with images, in layout order."""
        return [part for session, part in self.layout.sessions.items() if part != "train" and session in self.data.sessions and session not in self.unscored]


def check_voxels_agree(subject: str, sessions: Mapping[str, SessionData], train_session: str) -> None:
    """Every session of a subject must have the training session's voxel count in every ROI.

    Raises
    ------
    DataError
        Naming both files and the ROI.
    """
    train = sessions.get(train_session)
    if train is None:
        return
    for name, session in sessions.items():
        if name == train_session:
            continue
        for roi, x in train.fmri.items():
            other = session.fmri.get(roi)
            if other is not None and other.shape[1] != x.shape[1]:
                raise DataError(
                    f"{subject}: {session.path.name} ({name}) has {other.shape[1]} {roi} voxels but {train.path.name} ({train_session}) "
                    f"has {x.shape[1]}; the files of one subject must come from the same preprocessing"
                )


def optional_images_state(ids: Iterable[str], index: Mapping[str, list[Path]]) -> tuple[str, list[str]]:
    """``("all" | "none" | "some", missing ids)`` for the images of an optional-image session."""
    unique = sorted(set(str(i) for i in ids))
    missing = [i for i in unique if len(index.get(i, [])) != 1]
    if not missing:
        return "all", []
    return ("none" if len(missing) == len(unique) else "some"), missing


def load_held_subject(
    root: str | Path | None,
    subject: str,
    *,
    stimuli_dir: str | Path | None = None,
    image_size: int | None = None,
    progress: bool = False,
    sessions: Iterable[str] | None = None,
    layout: Layout | None = None,
) -> HeldSubject:
    """Load one subject as the folder holds it.

    Parameters
    ----------
    root : path or None
        Data folder (``None``: ``$RECONBENCH_DATA``); its layout is detected.
    subject : str
    stimuli_dir : path, optional
        Default ``<root>/stimuli``.
    image_size : int, optional
        Side of the square images; ``None``: simulated native size, else 256.
    progress : bool
    sessions : iterable of str, optional
        Only these sessions, each of which must be present; default: every
        session present (the training session must be).
    layout : Layout, optional
        The folder's layout when already known (:class:`reconbench.datasets.catalog.DataFolder`);
        default: detected.

    Returns
    -------
    HeldSubject

    Raises
    ------
    DataError
        No training file, a requested session absent, an unreadable file,
        sessions disagreeing on voxel counts, a label without its image (an
        optional-image session with images for some of its stimuli only).
    """
    root = data_root(root)
    layout = layout if layout is not None else detect_layout(root)
    stimuli_dir = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(root)
    if image_size is None:
        image_size = default_image_size(root)
    wanted = None if sessions is None else list(sessions)
    for name in wanted or []:
        if name not in layout.sessions:
            raise DataError(f"unknown session {name!r} for the {layout.title} layout; expected one of {list(layout.sessions)}")
    layout.require_training(root, subject)
    tables = session_tables(root, layout, stimuli_dir)
    loaded: dict[str, SessionData] = {}
    absent: list[str] = []
    for name, path, read in layout.iter_sessions(root, subject, tables):
        if wanted is not None and name not in wanted:
            continue
        if isinstance(read, DataError):
            raise read
        if read is None:
            if name == layout.train_session:
                raise DataError(f"{subject}: the training session {name} has no trials in {path or root}")
            if wanted is not None:
                if layout is DS001506:
                    session_file(root, subject, name)  # raises the missing-file error naming the file
                raise DataError(f"{subject}: session {name} is absent from {root} ({layout.file_hint})")
            absent.append(name)
            continue
        loaded[name] = read
    check_voxels_agree(subject, loaded, layout.train_session)

    index = index_stimulus_images(stimuli_dir)
    image_paths: dict[str, Path] = {}
    unscored: dict[str, str] = {}
    for name, session in loaded.items():
        ids = np.unique(session.stimulus_ids)
        if name in layout.optional_image_sessions:
            state, missing = optional_images_state(ids, index)
            if state == "none":
                unscored[name] = f"no images for its {len(ids)} stimuli (e.g. {ids[0]}) in {stimuli_dir}"
                continue
            if state == "some":
                raise DataError(
                    f"{subject}, session {name}: {len(missing)} of {len(ids)} stimuli have no image in {stimuli_dir} "
                    f"(e.g. {missing[:3]}); provide an image for every {name} stimulus, or none to leave it unscored"
                )
        for stimulus_id in ids:
            image_paths[str(stimulus_id)] = resolve_image_path(str(stimulus_id), index, where=str(session.path), stimuli_dir=stimuli_dir)
    bar_context = nullcontext(None)
    if progress:
        from rich.progress import Progress  # lazy: only when a bar is shown

        bar_context = Progress(transient=True)
    with bar_context as bar:
        task = bar.add_task(f"{subject}: images", total=len(image_paths)) if bar is not None else None
        ordered = sorted(image_paths)
        images = dict(
            zip(ordered, load_stimulus_images([image_paths[i] for i in ordered], image_size, on_read=(lambda: bar.advance(task)) if bar is not None else None))
        )
    data = SubjectData(subject=subject, root=root, sessions=loaded, images=images, image_paths=image_paths, image_size=int(image_size))
    return HeldSubject(data=data, layout=layout, absent=tuple(absent), unscored=unscored)
