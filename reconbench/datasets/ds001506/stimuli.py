"""Stimuli of the ds001506 layout: stimulus tables, image files, ids, image loading.

Natural images are named after their ImageNet id (``n01518878_5958``, from the
float label ``1518878.005958``); artificial shapes and letters as in their
stimulus tables (tab-separated, no header: name, stimulus id, category index,
image index). Images are read as RGB float32 in [0, 1]; a non-square image is
centre-cropped to a square (the shorter side) before it is resized with the
pinned :func:`reconbench.core.images.resize`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from reconbench.core.errors import DataError
from reconbench.core.images import read_image, resize
from reconbench.datasets.ds001506.layout import DEFAULT_REAL_IMAGE_SIZE, IMAGE_EXTENSIONS
from reconbench.datasets.simulated.ground_truth import simulated_image_size


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
        raise DataError(
            f"label {stimulus_id!r} in {where} has no stimulus image in {stimuli_dir} (looked for {stimulus_id}.* with extensions {', '.join(IMAGE_EXTENSIONS)})"
        )
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


def session_table(root: str | Path, session: str, stimuli_dir: str | Path | None = None) -> StimulusTable | None:
    """The stimulus table of ``session`` if one is found (see :func:`find_stimulus_table`), else None."""
    table_path = find_stimulus_table(root, session, stimuli_dir)
    return read_stimulus_table(table_path) if table_path is not None else None


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
