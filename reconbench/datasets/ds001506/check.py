"""``reconbench data check``: what a data folder holds, and what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconbench.core.errors import DataError
from reconbench.core.paths import data_root
from reconbench.core.types import ALL_ROIS
from reconbench.datasets.ds001506.bdata import read_session
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.ds001506.loader import list_subjects, session_file
from reconbench.datasets.ds001506.stimuli import (
    EXTRA_IMAGES_DIR,
    default_stimuli_dir,
    find_stimulus_table,
    index_stimulus_images,
    list_extra_images,
    read_stimulus_table,
)
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


def check_data(root: str | Path | None = None, stimuli_dir: str | Path | None = None) -> None:
    """Print subjects, sessions, ROIs with voxel counts, trials, repetitions and missing stimuli.

    Every file is read; problems are listed together at the end.

    Raises
    ------
    DataError
        If any file is missing or malformed or any stimulus image is missing
        (after printing everything that could be read).
    """
    from rich.console import Console  # lazy: rich only for console output
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
    manifest = root / MANIFEST_NAME
    console.print(
        f"[bold]split manifest[/bold] {escape(str(manifest))}" if manifest.is_file()
        else "[bold]split manifest[/bold] none yet (written on the first load of a split)",
        soft_wrap=True,
    )
    problems: list[str] = []
    checked_images: dict[Path, str] = {}
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
            for stimulus_id in ids:
                found = index.get(str(stimulus_id), [])
                if len(found) == 1 and found[0] not in checked_images:
                    checked_images[found[0]] = _image_problem(found[0])
                    if checked_images[found[0]]:
                        problems.append(f"stimulus image {found[0]} for label {str(stimulus_id)!r} is unreadable: {checked_images[found[0]]}")
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
    console.print("[green]all files readable, every label has one stimulus image, and every image decodes[/green]")
