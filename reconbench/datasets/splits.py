"""Fixed, versioned splits and the split manifest.

The split of a subject is fixed by the data themselves:

- ``train``: every trial of the training session (ds001506
  ``NaturalImageTraining``; GOD ``DataType == 1``), all repetitions, one image
  per unique stimulus;
- the validation fold inside ``train``: the ``ceil(10 %)`` training stimuli
  whose ``sha256("reconbench-validation-v1:" + id)`` is smallest. It depends
  only on the set of ids, never on file order, machine or random state, and all
  repetitions of a stimulus fall on the same side;
- test sets ``natural`` (``NaturalImageTest``; GOD ``DataType == 2``), ``shapes``
  (``ArtificialImage``), ``letters`` (``LetterImage``) and GOD's ``imagery``
  (``DataType == 3``, scored only with user-provided images): trials averaged per
  stimulus id. Only the test sets the folder holds are loaded
  (:mod:`reconbench.datasets.layouts`). A method receives fMRI and ids only;
  the images go to the evaluator.

The manifest ``<root>/reconbench_split.json`` records, per subject and session,
the file's sha256 and stimulus ids, the train / validation / test ids, the
sha256 of every stimulus image file, and one overall hash of all of it, so two
machines can prove they used the same split. :func:`load_split` recomputes
these and raises a :class:`~reconbench.core.errors.DataError` naming every
difference. When no manifest exists it is written on first load (atomically);
if the data folder is read-only it goes to the cache folder instead, with a
warning.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from reconbench.core.atomic import write_text
from reconbench.core.errors import DataError
from reconbench.core.hashing import json_hash, sha256_file, sha256_text
from reconbench.core.paths import cache_dir, data_root
from reconbench.core.types import Split, TestInput, TrainData
from reconbench.datasets.ds001506.loader import (
    EXTRA_IMAGES_DIR,
    SubjectData,
    average_repetitions,
    default_stimuli_dir,
    index_stimulus_images,
    list_extra_images,
    load_stimulus_images,
    resolve_image_path,
)
from reconbench.datasets.layouts import DS001506, Layout, detect_layout, load_held_subject, optional_images_state, session_tables

MANIFEST_NAME = "reconbench_split.json"
MANIFEST_FORMAT = "reconbench-split/1"
VALIDATION_FRACTION = 0.1
VALIDATION_SALT = "reconbench-validation-v1:"


# ---------------------------------------------------------------------------
# Pure rules


def validation_ids(train_ids: Iterable[str], fraction: float = VALIDATION_FRACTION) -> list[str]:
    """The fixed validation fold: the ``ceil(fraction * S)`` ids with the smallest salted sha256.

    Parameters
    ----------
    train_ids : iterable of str
        Unique training stimulus ids (order does not matter).
    fraction : float

    Returns
    -------
    list of str, sorted
        Empty only when there are fewer than two training stimuli.
    """
    unique = sorted(set(str(i) for i in train_ids))
    if len(unique) < 2:
        return []
    n_validation = min(len(unique) - 1, max(1, math.ceil(fraction * len(unique))))
    ranked = sorted(unique, key=lambda i: sha256_text(VALIDATION_SALT + i))
    return sorted(ranked[:n_validation])


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a data file's bytes (:func:`reconbench.core.hashing.sha256_file`);
    an unreadable file is a :class:`DataError`."""
    try:
        return sha256_file(path)
    except OSError as exc:
        raise DataError(f"cannot read {path} to hash it: {exc}") from exc


def _overall_hash(body: Mapping) -> str:
    # The compact sorted form (full digest) that the format reconbench-split/1 defined.
    return json_hash(body)


# ---------------------------------------------------------------------------
# Manifest building


def _subject_entry(ids_by_session: Mapping[str, np.ndarray], paths: Mapping[str, Path], layout: Layout = DS001506) -> dict:
    sessions = {}
    digests: dict[Path, str] = {}  # a GOD file holds every session: hash it once
    for name, ids in ids_by_session.items():
        if paths[name] not in digests:
            digests[paths[name]] = file_sha256(paths[name])
        sessions[name] = {
            "file": paths[name].name,
            "sha256": digests[paths[name]],
            "part": layout.sessions[name],
            "n_trials": int(len(ids)),
            "stimulus_ids": sorted(set(str(i) for i in ids)),
        }
    entry: dict = {"sessions": sessions}
    if layout.train_session in sessions:
        entry["train"] = sessions[layout.train_session]["stimulus_ids"]
        entry["validation"] = validation_ids(entry["train"])
    entry["test"] = {part: sessions[name]["stimulus_ids"] for part, name in layout.test_set_sessions.items() if name in sessions}
    return entry


def _stimulus_entries(ids: Iterable[str], index, stimuli_dir: Path, where: Mapping[str, str]) -> dict:
    entries = {}
    for stimulus_id in sorted(set(ids)):
        path = resolve_image_path(stimulus_id, index, where=where.get(stimulus_id, "the data"), stimuli_dir=stimuli_dir)
        try:
            relative = path.relative_to(stimuli_dir).as_posix()
        except ValueError:
            relative = path.as_posix()
        entries[stimulus_id] = {"file": relative, "sha256": file_sha256(path)}
    return entries


def extra_image_hashes(root: str | Path, paths: Iterable[Path] | None = None) -> dict[str, str]:
    """``{path relative to <root>/extra_images: sha256}`` of the extra images of ``root`` ({} if none).

    ``paths``: the files, when the caller has listed them (:func:`list_extra_images`) already.
    """
    folder = Path(root) / EXTRA_IMAGES_DIR
    paths = list_extra_images(root) if paths is None else paths
    return {path.relative_to(folder).as_posix(): file_sha256(path) for path in paths}


def build_split_manifest(root: str | Path | None = None, *, stimuli_dir: str | Path | None = None) -> dict:
    """Compute the manifest of every subject and session present in ``root`` (nothing written).

    Returns
    -------
    dict
        ``{"format", "validation_rule", "subjects": {subject: {"sessions": {session:
        {"file", "sha256", "part", "n_trials", "stimulus_ids"}}, "train", "validation",
        "test": {test_set: ids}}}, "stimuli": {id: {"file", "sha256"}}, "overall_sha256"}``,
        plus ``"extra_images": {relative path: sha256}`` when ``<root>/extra_images/`` holds images.
    """
    root = data_root(root)
    stimuli_dir = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(root)
    layout = detect_layout(root)
    subjects = layout.list_subjects(root)
    tables = session_tables(root, layout, stimuli_dir)
    index = index_stimulus_images(stimuli_dir)
    subject_entries = {}
    where: dict[str, str] = {}
    for subject in subjects:
        paths = {}
        ids_by_session = {}
        for name, path, read in layout.iter_sessions(root, subject, tables, ids_only=True):
            if isinstance(read, DataError):
                raise read
            if read is None:
                continue
            paths[name] = path
            ids_by_session[name] = read.stimulus_ids
            if name in layout.optional_image_sessions and optional_images_state(read.stimulus_ids, index)[0] == "none":
                continue  # imagery without images: recorded by id, no image to hash
            for stimulus_id in ids_by_session[name]:
                where.setdefault(str(stimulus_id), str(path))
        subject_entries[subject] = _subject_entry(ids_by_session, paths, layout)
    body = {
        "format": MANIFEST_FORMAT,
        "validation_rule": f"ceil({VALIDATION_FRACTION} * n_train) training ids with the smallest sha256('{VALIDATION_SALT}' + id)",
        "subjects": subject_entries,
        "stimuli": _stimulus_entries(where, index, stimuli_dir, where),
    }
    extra = extra_image_hashes(root)
    if extra:
        body["extra_images"] = extra
    return {**body, "overall_sha256": _overall_hash(body)}


def _manifest_text(manifest: Mapping) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def write_split_manifest(root: str | Path | None = None, *, stimuli_dir: str | Path | None = None) -> Path:
    """Write ``<root>/reconbench_split.json`` atomically and return its path.

    Parameters
    ----------
    root : path or None
        Dataset folder; ``None`` -> ``$RECONBENCH_DATA``.
    stimuli_dir : path, optional
        Stimulus folder (default ``<root>/stimuli``).

    Raises
    ------
    DataError
        A session file cannot be read or a label has no stimulus image.
    """
    root = data_root(root)
    manifest = build_split_manifest(root, stimuli_dir=stimuli_dir)
    target = root / MANIFEST_NAME
    write_text(target, _manifest_text(manifest))
    return target


def cached_manifest_path(root: str | Path) -> Path:
    """Where the manifest of a read-only data folder is kept: the cache folder, keyed by the folder's absolute path."""
    key = sha256_text(str(Path(root).resolve()), 16)
    return cache_dir() / "splits" / key / MANIFEST_NAME


def read_split_manifest(path: str | Path) -> dict:
    """Read and sanity-check a manifest file."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read split manifest {path}: {exc}; delete it to record the current files as the split") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataError(f"split manifest {path} has format {found!r}; expected {MANIFEST_FORMAT!r}")
    body = {k: v for k, v in manifest.items() if k != "overall_sha256"}
    if _overall_hash(body) != manifest.get("overall_sha256"):
        raise DataError(f"split manifest {path} was edited: its overall_sha256 does not match its content")
    return manifest


def _ensure_manifest(root: Path, stimuli_dir: Path | None) -> tuple[dict, Path]:
    """Return the manifest of ``root``, writing it (or its cache copy) on first use."""
    for candidate in (root / MANIFEST_NAME, cached_manifest_path(root)):
        if candidate.is_file():
            return read_split_manifest(candidate), candidate
    manifest = build_split_manifest(root, stimuli_dir=stimuli_dir)
    target = root / MANIFEST_NAME
    try:
        write_text(target, _manifest_text(manifest))
    except OSError as exc:
        target = cached_manifest_path(root)
        warnings.warn(f"data folder {root} is not writable ({exc}); split manifest written to {target}", stacklevel=3)
        write_text(target, _manifest_text(manifest))
    return manifest, target


def _diff_ids(label: str, expected: list[str], found: list[str]) -> list[str]:
    if list(expected) == list(found):
        return []
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    return [f"{label}: {len(missing)} id(s) in the manifest not in the data (e.g. {missing[:3]}), {len(extra)} new id(s) (e.g. {extra[:3]})"]


def check_against_manifest(
    manifest: Mapping, manifest_path: Path, current: Mapping, stimuli: Mapping[str, str], extra_images: Mapping[str, str] | None = None
) -> None:
    """Compare one subject's current entry (and its image hashes) with the manifest.

    Parameters
    ----------
    manifest : the full manifest
    current : dict
        ``{"subject", "entry"}`` as built by :func:`_subject_entry` for the loaded sessions.
    stimuli : dict of str to str
        Stimulus id -> sha256 of its image file, for the loaded sessions.
    extra_images : dict of str to str, optional
        Path under ``extra_images/`` -> sha256 (:func:`extra_image_hashes`);
        ``None`` skips the check (extra images not loaded).

    Raises
    ------
    DataError
        Listing every difference.
    """
    subject = current["subject"]
    entry = current["entry"]
    recorded = manifest.get("subjects", {}).get(subject)
    hint = f"; if the data changed on purpose, delete {manifest_path} to record the current files as the split"
    if recorded is None:
        raise DataError(f"subject {subject} is not in split manifest {manifest_path}{hint}")
    differences: list[str] = []
    for name, session in entry["sessions"].items():
        old = recorded.get("sessions", {}).get(name)
        if old is None:
            differences.append(f"session {name} ({session['file']}) is not in the manifest")
            continue
        if old["sha256"] != session["sha256"]:
            differences.append(f"{session['file']}: sha256 {session['sha256'][:12]}... differs from the manifest's {old['sha256'][:12]}...")
        differences += _diff_ids(f"{name} stimulus ids", old["stimulus_ids"], session["stimulus_ids"])
    if "train" in entry:
        differences += _diff_ids("validation fold", recorded.get("validation", []), entry["validation"])
    recorded_stimuli = manifest.get("stimuli", {})
    for stimulus_id, digest in sorted(stimuli.items()):
        old = recorded_stimuli.get(stimulus_id)
        if old is None:
            differences.append(f"stimulus image {stimulus_id!r} is not in the manifest")
        elif old["sha256"] != digest:
            differences.append(f"stimulus image {stimulus_id!r} ({old['file']}): sha256 {digest[:12]}... differs from the manifest's {old['sha256'][:12]}...")
    if extra_images is not None:
        recorded_extra = manifest.get("extra_images", {})
        missing = sorted(set(recorded_extra) - set(extra_images))
        new = sorted(set(extra_images) - set(recorded_extra))
        changed = sorted(name for name in set(extra_images) & set(recorded_extra) if extra_images[name] != recorded_extra[name])
        if missing or new:
            differences.append(
                f"{EXTRA_IMAGES_DIR}/: {len(missing)} file(s) in the manifest not in the folder (e.g. {missing[:3]}), {len(new)} new file(s) (e.g. {new[:3]})"
            )
        for name in changed:
            differences.append(
                f"extra image {EXTRA_IMAGES_DIR}/{name}: sha256 {extra_images[name][:12]}... differs from the manifest's {recorded_extra[name][:12]}..."
            )
    if differences:
        shown = "; ".join(differences[:8]) + (f"; ... ({len(differences) - 8} more)" if len(differences) > 8 else "")
        raise DataError(f"split of {subject} differs from manifest {manifest_path}: {shown}{hint}")


# ---------------------------------------------------------------------------
# Split


def _stack_images(data: SubjectData, ids: np.ndarray) -> np.ndarray:
    if len(ids) == 0:
        size = data.image_size
        return np.zeros((0, 3, size, size), dtype=np.float32)
    return np.stack([data.images[str(i)] for i in ids]).astype(np.float32, copy=False)


def _pixel_hash(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def _check_no_leak(
    subject: str,
    train_ids: np.ndarray,
    train_images: np.ndarray,
    test_images: Mapping[str, tuple[np.ndarray, np.ndarray]],
    data: SubjectData,
    file_hashes: Mapping[str, str],
    extra: tuple[list[Path], list[str], np.ndarray] | None = None,
) -> None:
    """No test stimulus may be a training stimulus, and no test image (as a file or as decoded
    pixels) may be identical to a training image or to an extra image.

    ``file_hashes`` maps stimulus ids to the sha256 of their files (computed once for the
    manifest check); ``extra`` is (paths, file sha256s, decoded images) of the extra images.
    """
    seen_files: dict[str, tuple[str, str]] = {}
    seen_pixels: dict[str, tuple[str, str]] = {}
    for stimulus_id, image in zip(train_ids, train_images):
        seen_files[file_hashes[str(stimulus_id)]] = ("train", str(stimulus_id))
        seen_pixels[_pixel_hash(image)] = ("train", str(stimulus_id))
    if extra is not None:
        for path, digest, image in zip(*extra):
            seen_files.setdefault(digest, ("extra", str(path)))
            seen_pixels.setdefault(_pixel_hash(image), ("extra", str(path)))
    train_set = set(str(i) for i in train_ids)
    for name, (ids, images) in test_images.items():
        for stimulus_id, image in zip(ids, images):
            stimulus_id = str(stimulus_id)
            if stimulus_id in train_set:
                raise DataError(f"{subject}: test stimulus {stimulus_id!r} ({name}) is also a training stimulus; the split would leak")
            path = data.image_paths[stimulus_id]
            twin = seen_files.get(file_hashes[stimulus_id]) or seen_pixels.get(_pixel_hash(image))
            if twin is None:
                continue
            kind, which = twin
            if kind == "train":
                raise DataError(
                    f"{subject}: test image {stimulus_id!r} ({name}, {path}) is identical to training image {which!r} "
                    f"({data.image_paths[which]}); the split would leak"
                )
            raise DataError(
                f"{subject}: extra image {which} is identical to test image {stimulus_id!r} ({name}, {path}); "
                f"remove it from {EXTRA_IMAGES_DIR}/ (test images must never reach a method)"
            )


def load_split(
    root: str | Path | None,
    subject: str,
    *,
    stimuli_dir: str | Path | None = None,
    image_size: int | None = None,
    progress: bool = False,
    test_sets: Iterable[str] | None = None,
    extra_images: bool = True,
    layout: Layout | None = None,
) -> Split:
    """Load the fixed split of one subject, checked against the split manifest.

    Parameters
    ----------
    root : path or None
        Dataset folder; ``None`` -> ``$RECONBENCH_DATA``.
    subject : str
        e.g. ``"sub-01"``.
    stimuli_dir : path, optional
        Stimulus image folder (default ``<root>/stimuli``).
    image_size : int, optional
        Side of the square images; ``None``: simulated native size, else 256.
    progress : bool
        Show progress bars.
    test_sets : iterable of str, optional
        Test sets to load. Default: every test set the folder holds with its
        images (ds001506: ``natural``, ``shapes``, ``letters`` as present;
        GOD: ``natural``, and ``imagery`` when the user provided its images);
        at least one is needed. A requested test set must be present.
    extra_images : bool
        Load ``<root>/extra_images/`` (if present) into ``train.extra_images``,
        after checking it against the manifest and against the test images.
    layout : Layout, optional
        The folder's layout when already known; default: detected.

    Returns
    -------
    Split
        ``train``: :class:`TrainData` (all training trials, z-scored within
        run; one image per unique stimulus, ids sorted; the validation mask).
        ``test_inputs``: :class:`TestInput` per test set (fMRI averaged over
        repetitions, sorted ids, no images). ``test_images``: ``{name: (ids,
        images)}`` for the evaluator. ``manifest``: this subject's manifest
        entry plus ``overall_sha256`` and ``path``.

    Raises
    ------
    DataError
        Bad or missing files, a missing stimulus image, a mismatch with the
        manifest, or a test stimulus that is also a training stimulus.
    """
    root = data_root(root)
    layout = layout if layout is not None else detect_layout(root)
    if test_sets is None:
        sessions = None
    else:
        wanted = list(test_sets)
        for name in wanted:
            if name not in layout.test_set_sessions:
                raise DataError(f"unknown test set {name!r}; expected some of {list(layout.test_set_sessions)} ({layout.title})")
        sessions = [layout.train_session] + [layout.test_set_sessions[name] for name in wanted]
    held = load_held_subject(root, subject, stimuli_dir=stimuli_dir, image_size=image_size, progress=progress, sessions=sessions, layout=layout)
    data = held.data
    if test_sets is not None:
        for name in wanted:
            reason = held.unscored.get(layout.test_set_sessions[name])
            if reason:
                raise DataError(f"{subject}: test set {name!r} cannot be scored: {reason}")
    else:
        wanted = held.scorable_test_sets
        if not wanted:
            present = [name for name in data.sessions if name != layout.train_session]
            raise DataError(
                f"{subject} in {root}: no test session to score ({'only ' + ', '.join(present) + ' without images' if present else 'none present'}); "
                f"a run needs the training session and at least one of {', '.join(s for s in layout.test_set_sessions.values())}"
            )
    stimuli_path = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(data.root)

    manifest, manifest_path = _ensure_manifest(data.root, stimuli_path)
    ids_by_session = {name: session.stimulus_ids for name, session in data.sessions.items()}
    entry = _subject_entry(ids_by_session, {n: s.path for n, s in data.sessions.items()}, layout)
    image_hashes = {stimulus_id: file_sha256(path) for stimulus_id, path in data.image_paths.items()}
    extra_paths = list_extra_images(data.root) if extra_images else []
    extra_hashes = extra_image_hashes(data.root, extra_paths) if extra_images else None
    check_against_manifest(manifest, manifest_path, {"subject": subject, "entry": entry}, image_hashes, extra_hashes)

    train_session = data.sessions[layout.train_session]
    train_ids, trial_image_index = np.unique(train_session.stimulus_ids, return_inverse=True)
    train_images = _stack_images(data, train_ids)
    extra = np.stack(load_stimulus_images(extra_paths, data.image_size)).astype(np.float32, copy=False) if extra_paths else None
    validation = set(validation_ids(train_ids))
    train = TrainData(
        images=train_images,
        stimulus_ids=train_ids,
        fmri=dict(train_session.fmri),
        trial_image_index=trial_image_index.astype(np.int64),
        runs=train_session.runs.copy(),
        validation_mask=np.array([str(i) in validation for i in train_ids], dtype=bool),
        extra_images=extra,
    )

    test_inputs = {}
    test_images = {}
    for name in wanted:
        session = data.sessions[layout.test_set_sessions[name]]
        ids, averaged, _ = average_repetitions(session.fmri, session.stimulus_ids)
        test_inputs[name] = TestInput(name=name, fmri=averaged, stimulus_ids=ids)
        test_images[name] = (ids, _stack_images(data, ids))
    _check_no_leak(
        subject,
        train_ids,
        train_images,
        test_images,
        data,
        image_hashes,
        None if extra is None else (extra_paths, list(extra_hashes.values()), extra),
    )

    recorded = dict(manifest["subjects"][subject])
    recorded["overall_sha256"] = manifest["overall_sha256"]
    recorded["path"] = str(manifest_path)
    return Split(subject=subject, train=train, test_inputs=test_inputs, test_images=test_images, manifest=recorded)
