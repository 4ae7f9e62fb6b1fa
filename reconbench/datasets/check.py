"""``reconbench data check``: what a data folder holds, and what is wrong with it.

Works for every layout (:mod:`reconbench.datasets.layouts`): it names the layout
it found, then per subject lists each session as present or absent. An absent
test session is information (that test set is not scored), not a problem; a
missing training file, an unreadable file, a subject without any test session,
sessions that disagree on voxel counts, or a stimulus without its image are
problems, listed together at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconbench.core.errors import DataError
from reconbench.core.paths import data_root
from reconbench.core.types import ALL_ROIS
from reconbench.datasets.ds001506.stimuli import EXTRA_IMAGES_DIR, default_stimuli_dir, index_stimulus_images, list_extra_images
from reconbench.datasets.layouts import check_voxels_agree, detect_layout, optional_images_state, require_layout, session_tables
from reconbench.datasets.splits import MANIFEST_NAME


def _image_problem(path: Path) -> str:
    """``""`` if ``path`` decodes as an image, else what is wrong with it."""
    from PIL import Image, UnidentifiedImageError  # lazy: only when images are checked

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def check_data(root: str | Path | None = None, stimuli_dir: str | Path | None = None, *, layout: str | None = None) -> None:
    """Print the layout, subjects, sessions (present / absent), ROIs with voxel counts, trials, repetitions and missing stimuli.

    Parameters
    ----------
    root : path, optional
        Data folder (default ``$RECONBENCH_DATA``).
    stimuli_dir : path, optional
        Default ``<root>/stimuli``.
    layout : str, optional
        The layout expected (``ds001506`` or ``god``); a folder of another layout is an error naming the one found.

    Raises
    ------
    DataError
        If any problem was found (after printing everything that could be read).
    """
    from rich.console import Console  # lazy: rich only for console output
    from rich.markup import escape
    from rich.table import Table

    root = data_root(root)
    console = Console()
    found = detect_layout(root) if layout is None else require_layout(root, layout)
    subjects = found.list_subjects(root)
    stimuli_dir = Path(stimuli_dir) if stimuli_dir is not None else default_stimuli_dir(root)
    index = index_stimulus_images(stimuli_dir)
    tables = session_tables(root, found, stimuli_dir)
    console.print(f"[bold]data[/bold] {escape(str(root))}", soft_wrap=True)
    console.print(f"[bold]layout[/bold] {escape(found.title)}: {escape(found.file_hint)}", soft_wrap=True)
    console.print(f"[bold]stimuli[/bold] {escape(str(stimuli_dir))} ({sum(len(v) for v in index.values())} image files)", soft_wrap=True)
    extra = list_extra_images(root)
    console.print(
        f"[bold]extra images[/bold] {escape(str(root / EXTRA_IMAGES_DIR))} ({len(extra)} image files)"
        if extra
        else f"[bold]extra images[/bold] none ({EXTRA_IMAGES_DIR}/ folder absent or empty; optional)",
        soft_wrap=True,
    )
    manifest = root / MANIFEST_NAME
    console.print(
        f"[bold]split manifest[/bold] {escape(str(manifest))}"
        if manifest.is_file()
        else "[bold]split manifest[/bold] none yet (written on the first load of a split)",
        soft_wrap=True,
    )
    problems: list[str] = []
    notes: list[str] = []
    checked_images: dict[Path, str] = {}
    for subject in subjects:
        sessions_table = Table(title=f"{subject}: sessions")
        for column in ("session", "test set", "status", "trials", "runs", "stimuli", "repetitions", "missing stimuli"):
            sessions_table.add_column(column)
        label_sources: list[str] = []
        roi_table = Table(title=f"{subject}: voxels per ROI")
        roi_table.add_column("session")
        for roi in ALL_ROIS:
            roi_table.add_column(roi, justify="right")
        read_ok = {}
        scored, absent = [], []
        for name, path, read in found.iter_sessions(root, subject, tables):
            part = found.sessions[name]
            if read is None:
                if name == found.train_session:
                    try:
                        found.require_training(root, subject)
                        problems.append(f"{subject}: the training session {name} has no trials in {path or root}")
                    except DataError as exc:
                        problems.append(str(exc))
                    sessions_table.add_row(name, part, "[red]missing (required)[/red]", "", "", "", "", "")
                else:
                    absent.append(part)
                    sessions_table.add_row(name, part, "absent (not scored)", "", "", "", "", "")
                continue
            if isinstance(read, DataError):
                problems.append(str(read))
                sessions_table.add_row(name, part, "[red]unreadable[/red]", "", "", "", "", "")
                continue
            read_ok[name] = read
            ids, counts = np.unique(read.stimulus_ids, return_counts=True)
            status = "present"
            if name in found.optional_image_sessions:
                state, missing_optional = optional_images_state(ids, index)
                if state == "none":
                    status = "present, no images (not scored)"
                    notes.append(
                        f"{subject}: {name} has {len(ids)} stimuli (e.g. {ids[0]}) and no images in {stimuli_dir}: "
                        f"not scored; put one image per stimulus there (named <id>.<ext>) to score it"
                    )
                elif state == "some":
                    problems.append(
                        f"{subject}, session {name}: {len(missing_optional)} of {len(ids)} stimuli have no image "
                        f"(e.g. {missing_optional[:3]}); provide all or none"
                    )
            missing = [] if status != "present" else [str(i) for i in ids if len(index.get(str(i), [])) != 1]
            for stimulus_id in missing:
                images = index.get(stimulus_id, [])
                what = "no image" if not images else f"{len(images)} images"
                problems.append(f"label {stimulus_id!r} in {path}: {what} in {stimuli_dir}")
            if status == "present":
                scored.append(part)
                for stimulus_id in ids:
                    images = index.get(str(stimulus_id), [])
                    if len(images) == 1 and images[0] not in checked_images:
                        checked_images[images[0]] = _image_problem(images[0])
                        if checked_images[images[0]]:
                            problems.append(f"stimulus image {images[0]} for label {str(stimulus_id)!r} is unreadable: {checked_images[images[0]]}")
            repetitions = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
            missing_text = "0" if not missing else f"[red]{len(missing)}[/red] ({escape(', '.join(missing[:3]))}{', ...' if len(missing) > 3 else ''})"
            sessions_table.add_row(name, part, status, str(read.n_trials), str(len(np.unique(read.runs))), str(len(ids)), repetitions, missing_text)
            label_sources.append(f"  {name}: {path.name}, stimulus ids from {read.label_source}")
            counts_by_roi = read.voxel_counts()
            roi_table.add_row(name, *[str(counts_by_roi[r]) for r in ALL_ROIS])
        try:
            check_voxels_agree(subject, read_ok, found.train_session)
        except DataError as exc:
            problems.append(str(exc))
        test_scored = [p for p in scored if p != "train"]
        if found.train_session in read_ok and not test_scored:
            problems.append(
                f"{subject}: no test session to score; a run needs the training session and at least one of {', '.join(found.test_set_sessions.values())}"
            )
        console.print(sessions_table)
        for line in label_sources:
            console.print(escape(line), highlight=False, soft_wrap=True)
        console.print(roi_table)
        console.print(
            f"{escape(subject)}: test sets scored: {', '.join(test_scored) or 'none'}; absent: {', '.join(absent) or 'none'}",
            highlight=False,
            soft_wrap=True,
        )
    for note in notes:
        console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    problems = list(dict.fromkeys(problems))  # a GOD file that fails fails every session: one line
    if problems:
        for problem in problems:
            console.print(f"[red]problem:[/red] {escape(problem)}", highlight=False, soft_wrap=True)
        raise DataError(f"{len(problems)} problem(s) in {root}; first: {problems[0]}")
    console.print("[green]all files readable, every label has one stimulus image, and every image decodes[/green]")
