"""The one reader of a simulated dataset's ground truth (``<root>/ground_truth/``).

:func:`reconbench.datasets.simulated.simulate.simulate` is the one writer. The
folder holds ``simulation.json`` (every setting, the format version), a header
``stimuli.tsv`` (session, name, stimulus id, category, family; -1 for stimuli without a
category), ``extra_images.tsv``, and per subject ``<subject>_encoding.npz`` and
``<subject>_noise_free.npz`` (per session the noise-free responses and, under
``<session>/stimulus_names``, the stimulus of each row). Real data have no such
folder: every reader says so with ``None`` or a clear error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reconbench.core.errors import DataError, ReconbenchError

#: Version 2 added ``extra_images/``; version 3 the ds001506 design (training categories x 8 images, test
#: images from held-out categories, categories in families) and the ``family`` column; version 4 the
#: calibration (images whose surfaces follow their category with probability ``category_surface``, an
#: object stage in LOC/FFA/PPA, one SNR for every ROI, the ``ci`` preset's new voxels and SNR). A folder
#: of another version is refused, not half-used.
FORMAT_VERSION = "reconbench-simulation/4"
#: The ground-truth folder inside a simulated dataset.
FOLDER = "ground_truth"


@dataclass(frozen=True)
class Stimulus:
    """One stimulus image: its session, file stem, float id, category (0-based, -1 none), 1-based index,
    family (0-based, -1 none) and its number among the images of its category (0-based; the simulator's
    rendering key, so an image does not change when fewer images of its category are used)."""

    session: str
    name: str
    stimulus_id: float
    category: int
    image_index: int
    family: int = -1
    member: int = 0


def ground_truth_folder(root: str | Path) -> Path:
    """``<root>/ground_truth``."""
    return Path(root) / FOLDER


def simulation_json_path(root: str | Path) -> Path:
    """``<root>/ground_truth/simulation.json``: the simulator's description of a dataset."""
    return ground_truth_folder(root) / "simulation.json"


def stimuli_tsv_path(root: str | Path) -> Path:
    """``<root>/ground_truth/stimuli.tsv``: each stimulus's category."""
    return ground_truth_folder(root) / "stimuli.tsv"


def noise_free_path(root: str | Path, subject: str) -> Path:
    """``<root>/ground_truth/<subject>_noise_free.npz``: a subject's noise-free responses."""
    return ground_truth_folder(root) / f"{subject}_noise_free.npz"


def encoding_path(root: str | Path, subject: str) -> Path:
    """``<root>/ground_truth/<subject>_encoding.npz``: a subject's encoding model (and the category embedding)."""
    return ground_truth_folder(root) / f"{subject}_encoding.npz"


def available_ground_truth(root: str | Path, subject: str) -> set[str]:
    """Which fields of :class:`~reconbench.core.types.GroundTruthView` the data folder can give, plus
    ``seen_test_categories`` when the simulator drew the test images from the training categories
    (empty for real data)."""
    available = set()
    if stimuli_tsv_path(root).is_file():
        available.add("categories")
    if noise_free_path(root, subject).is_file():
        available.update(("noise_free", "noise_free_training"))
    if encoding_path(root, subject).is_file():
        available.add("category_vectors")
    info = read_simulation_info(root)
    if info is not None and (info.get("knobs") or {}).get("test_categories") == "seen":
        available.add("seen_test_categories")
    return available


def read_simulation_info(root: str | Path) -> dict | None:
    """``simulation.json`` as a dict, or None for a folder the simulator did not write.

    Raises
    ------
    ReconbenchError
        The file is unreadable, has no preset, or was written by another
        format version (the message names the command that simulates it again).
    """
    info = simulation_json_path(root)
    if not info.is_file():
        return None
    try:
        config = json.loads(info.read_text(encoding="utf-8"))
        preset = str(config["preset"])
    except (OSError, ValueError, KeyError) as exc:
        raise ReconbenchError(f"cannot read the preset from {info}: {exc}") from exc
    if config.get("format_version") != FORMAT_VERSION:
        raise ReconbenchError(_another_format(root, config, preset))
    return config


def _another_format(root: str | Path, config: dict, preset: str) -> str:
    """The refusal of a folder of another format version, with the command that simulates it again."""
    layout = " --layout god" if config.get("layout") == "god" else ""
    seed = f" --seed {config['seed']}" if config.get("seed") not in (None, 0) else ""
    if config.get("settings"):  # a sweep point: the sweep simulates it again with its settings
        again = f"remove it (rm -r {root}) and run the sweep again, which simulates the point anew"
    else:
        again = f"simulate it again: reconbench simulate --preset {preset}{layout}{seed} --out {root} --force"
    return f"{root} was simulated by another reconbench version (format {config.get('format_version')!r}; this version writes {FORMAT_VERSION!r}); {again}"


def simulated_preset(root: str | Path) -> str | None:
    """The preset a simulated data folder was made with, or None for other data."""
    config = read_simulation_info(root)
    return None if config is None else str(config["preset"])


def simulated_settings(root: str | Path) -> dict[str, float | int]:
    """The knobs a simulated folder changed from its preset (a sweep point; ``{}`` for a plain preset or other data)."""
    config = read_simulation_info(root)
    return {} if config is None else dict(config.get("settings") or {})


def simulated_image_size(root: str | Path) -> int | None:
    """The native image size of a simulated dataset, or None for other data.

    Reads ``image_size`` from ``simulation.json`` (top level, else among the
    preset ``knobs``); no format check, so any folder with the file answers.
    """
    info = simulation_json_path(root)
    if not info.is_file():
        return None
    try:
        document = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {info}: {exc}") from exc
    size = document.get("image_size")
    if size is None:
        # The simulator keeps its preset knobs (image_size among them) under "knobs".
        size = (document.get("knobs") or {}).get("image_size")
    if size is None:
        return None
    if isinstance(size, (list, tuple)):
        size = size[0]
    return int(size)


def read_categories(root: str | Path) -> dict[str, str] | None:
    """Category of every stimulus that has one, or None without ground truth.

    Returns
    -------
    dict of str to str or None
        Stimulus name (the image file stem the split uses as stimulus id) ->
        0-based category as text; stimuli without a category (shapes, letters)
        are left out.
    """
    path = stimuli_tsv_path(root)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    if "name" not in header or "category" not in header:
        raise ReconbenchError(f"{path}: expected columns 'name' and 'category', found {', '.join(header)}")
    name_col, category_col = header.index("name"), header.index("category")
    categories = {}
    for line in lines[1:]:
        fields = line.split("\t")
        name, category = fields[name_col], fields[category_col]
        if category not in ("", "-1"):
            categories[name] = category
    return categories


def read_noise_free(root: str | Path, subject: str) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """A subject's noise-free responses per session, or None without them.

    Returns
    -------
    dict of str to (ndarray, ndarray) or None
        Session -> ``(stimulus_names (M,), responses (M, V) float32)``, rows in
        file order.
    """
    path = noise_free_path(root, subject)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {
            key: (data[f"{key}/stimulus_names"], data[key])
            for key in data.files
            if not key.endswith("/stimulus_names") and f"{key}/stimulus_names" in data.files
        }


def read_category_embedding(root: str | Path, subject: str) -> np.ndarray | None:
    """The category embedding the simulator drew (row k: category k; shared by all subjects), or None without it.

    Returns
    -------
    ndarray, shape (K, D), float32, or None
    """
    path = encoding_path(root, subject)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if "category_embedding" not in data.files:
            raise DataError(f"{path}: no 'category_embedding' array (keys: {', '.join(data.files)})")
        return np.asarray(data["category_embedding"], dtype=np.float32)


@dataclass
class GroundTruth:
    """What the simulator knows and a real dataset does not.

    Attributes
    ----------
    config : dict
        ``ground_truth/simulation.json`` (format version, preset, seed, knobs).
    stimuli : list of Stimulus
        Every stimulus of every session.
    category : dict of str to int
        Stimulus name -> 0-based category; -1 for artificial shapes and letters.
    family : dict of str to int
        Stimulus name -> 0-based family of its category; -1 for artificial shapes and letters.
    encoding : dict of str to dict of str to ndarray
        Subject -> arrays of ``<subject>_encoding.npz``: per voxel in file
        column order ``roi``, ``prf_x``, ``prf_y``, ``prf_sigma`` (degrees; NaN
        for FFA/PPA), ``exponent``, ``selectivity``, ``voxel_xyz``, ``snr``,
        ``noise_loading``, ``baseline``, ``amplitude``, ``signal_mean``,
        ``signal_std``; ``weights/<ROI>`` per-ROI weights; shared
        ``category_embedding`` (K, 16), ``family_embedding`` (F, 16), ``face_like``/``scene_like`` (K,).
    noise_free : dict of str to dict of str to ndarray
        Subject -> session -> noise-free responses ``(n_stimuli, n_voxels)``
        float32 in units of each voxel's signal std over the training images
        (before baseline and amplitude), rows in the order of
        ``noise_free_names[subject][session]``.
    noise_free_names : dict of str to dict of str to ndarray
        Subject -> session -> stimulus names of the rows of ``noise_free``.
    """

    config: dict
    stimuli: list[Stimulus]
    category: dict[str, int]
    family: dict[str, int]
    encoding: dict[str, dict[str, np.ndarray]]
    noise_free: dict[str, dict[str, np.ndarray]]
    noise_free_names: dict[str, dict[str, np.ndarray]]


def load_ground_truth(root: str | Path) -> GroundTruth:
    """Read the ground truth a simulated dataset keeps in ``<root>/ground_truth``.

    Parameters
    ----------
    root : path
        A folder written by :func:`simulate`.

    Returns
    -------
    GroundTruth

    Raises
    ------
    ReconbenchError
        ``root`` has no simulator ground truth (e.g. real ds001506 data) or its
        format version is not this one.
    """
    gt_folder = ground_truth_folder(root)
    config_path = simulation_json_path(root)
    if not config_path.is_file():
        raise ReconbenchError(f"{config_path} not found: {root} is not a simulated dataset (real data have no ground truth)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("format_version") != FORMAT_VERSION:
        raise ReconbenchError(_another_format(root, config, str(config.get("preset", "PRESET"))))
    stimuli, category, family = [], {}, {}
    lines = stimuli_tsv_path(root).read_text(encoding="utf-8").splitlines()
    index_in_session: dict[str, int] = {}
    for line in lines[1:]:
        session, name, stimulus_id, cat, fam = line.split("\t")
        index_in_session[session] = index_in_session.get(session, 0) + 1
        stimuli.append(Stimulus(session, name, float(stimulus_id), int(cat), index_in_session[session], int(fam)))
        category[name] = int(cat)
        family[name] = int(fam)
    encoding, noise_free, names = {}, {}, {}
    for subject in config["subjects"]:
        with np.load(gt_folder / f"{subject}_encoding.npz", allow_pickle=False) as data:
            encoding[subject] = {k: data[k] for k in data.files}
        with np.load(noise_free_path(root, subject), allow_pickle=False) as data:
            noise_free[subject] = {k: data[k] for k in data.files if not k.endswith("/stimulus_names")}
            names[subject] = {k.split("/")[0]: data[k] for k in data.files if k.endswith("/stimulus_names")}
    return GroundTruth(config=config, stimuli=stimuli, category=category, family=family, encoding=encoding, noise_free=noise_free, noise_free_names=names)
