"""The catalog of datasets: one :class:`Dataset` object per name.

A dataset name (``ds001506``, ``god``, ``simulated:<preset>``,
``simulated-god:<preset>``) is parsed here and nowhere else. Each entry knows
its file layout (:mod:`reconbench.datasets.layouts`), its subjects, its
sessions, its default data folder and its evaluation resolution, the side
length at which the evaluator scores it (pinned, part of the evaluation recipe):

- ``ds001506`` and ``god`` (real data): 256 x 256;
- a simulated preset whose stimuli are at least 256 px (``default``, ``full``):
  256 x 256, so simulated and real scores share a resolution;
- a smaller simulated preset (``tiny``, for tests): its native stimulus size,
  since upsampling tiny images would only make every metric slower.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from reconbench.core.errors import ReconbenchError
from reconbench.core.paths import DATA_ENV
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.god import layout as god_layout
from reconbench.datasets.layouts import LAYOUTS, Layout, detect_layout, layouts_found
from reconbench.datasets.simulated.ground_truth import simulated_preset, simulated_settings
from reconbench.datasets.simulated.settings import SEPARATOR, settings_suffix, split_name
from reconbench.datasets.simulated.simulate import PRESETS, god_subject

#: Evaluation resolution of real data and of simulated presets with stimuli this large.
REAL_EVALUATION_SIZE = 256
REAL_SUBJECTS = ("sub-01", "sub-02", "sub-03")
GOD_SUBJECTS = tuple(f"Subject{n}" for n in range(1, 6))
#: Default cell timeout (seconds) per simulated preset, either layout; real data: :attr:`Dataset.cell_timeout`'s default.
PRESET_CELL_TIMEOUT = {"tiny": 600.0, "ci": 1800.0, "default": 2 * 3600.0, "full": 12 * 3600.0}
#: Prefix of the simulated datasets in the GOD layout (``reconbench simulate --layout god``).
SIMULATED_GOD = "simulated-god"


@dataclass(frozen=True)
class Dataset:
    """One entry of the catalog.

    Attributes
    ----------
    name : str
        As given to ``reconbench run --dataset``.
    kind : str
        ``"ds001506"``, ``"god"`` or ``"simulated"``.
    preset : str or None
        The simulator preset (simulated data only).
    subjects : tuple of str
    evaluation_size : int or None
        Scoring resolution; None means the native stimulus size.
    sessions : mapping of str to str
        Session name -> the split part it feeds.
    layout : str
        The file layout its folder holds (a key of :data:`reconbench.datasets.layouts.LAYOUTS`).
    settings : mapping of str to number
        Simulator knobs changed from the preset (a sweep point,
        ``simulated:<preset>@<name>=<value>``; see
        :mod:`reconbench.datasets.simulated.settings`); empty otherwise.
    cell_timeout : float
        Default wall-clock limit (seconds) of one cell's method process on this dataset
        (``--cell-timeout``): several times the slowest built-in cell measured on 2 CPU cores.
    """

    name: str
    kind: str
    preset: str | None
    subjects: tuple[str, ...]
    evaluation_size: int | None
    sessions: Mapping[str, str]
    layout: str = "ds001506"
    settings: Mapping[str, float | int] = field(default_factory=dict)
    cell_timeout: float = 24 * 3600.0

    def default_folder(self) -> Path:
        """The data folder when none is given: ``$RECONBENCH_DATA``, else
        ``~/reconbench_data/<name>`` with ``:`` as ``-`` (``simulated:tiny`` ->
        ``~/reconbench_data/simulated-tiny``). One rule for ``run`` and ``bench``."""
        env = os.environ.get(DATA_ENV)
        return Path(env).expanduser() if env else Path.home() / "reconbench_data" / self.name.replace(":", "-")

    def simulate_command(self, folder: str | Path) -> str:
        """The command that creates this (simulated) dataset in ``folder``."""
        layout = " --layout god" if self.layout == "god" else ""
        return f"reconbench simulate --preset {self.preset}{layout} --out {folder}"

    def evaluation_size_for(self, native_size: int) -> int:
        """The side length (pixels) at which this dataset is scored, given its native stimulus size."""
        return int(native_size) if self.evaluation_size is None else int(self.evaluation_size)

    def open(self, root: str | Path, stimuli_dir: str | Path | None = None) -> DataFolder:
        """This dataset in the folder ``root``, resolved once for a run: the folder checked against the
        name (:meth:`check_folder`), its layout detected, its subjects listed.

        Raises
        ------
        ReconbenchError
            The folder does not exist (with the command that creates a simulated one), or contradicts the name.
        DataError
            The folder holds no layout's files, or several.
        """
        root = Path(root)
        if not root.is_dir():
            if self.kind == "simulated":
                raise ReconbenchError(
                    f"data folder {root} does not exist; create it with: {self.simulate_command(root)} (or run 'reconbench bench', which simulates it)"
                )
            raise ReconbenchError(f"data folder {root} does not exist; pass --data with the folder of the {self.name} files (see 'reconbench data check')")
        self.check_folder(root)
        layout = detect_layout(root)
        return DataFolder(
            dataset=self,
            root=root.resolve(),
            layout=layout.name,
            subjects=tuple(layout.list_subjects(root)),
            stimuli_dir=None if stimuli_dir is None else Path(stimuli_dir).resolve(),
        )

    def check_folder(self, root: str | Path) -> None:
        """Refuse a data folder that contradicts this dataset (the name fixes the
        evaluation resolution, so a wrong name would score at the wrong size)."""
        found = simulated_preset(root)
        layouts = layouts_found(root)
        found_layout = layouts[0].name if len(layouts) == 1 else None
        simulated_name = None
        if found is not None:
            simulated_name = f"{SIMULATED_GOD}:{found}" if found_layout == "god" else f"simulated:{found}"
        base_name = self.name.partition(SEPARATOR)[0]
        if self.kind == "simulated" and found is not None and simulated_name != base_name:
            where = LAYOUTS[found_layout].title if found_layout else "an unknown"
            raise ReconbenchError(f"--dataset {self.name} but {root} was simulated with preset {found!r}; use --dataset {simulated_name} ({where} layout)")
        if self.kind != "simulated" and found is not None:
            raise ReconbenchError(f"--dataset {self.name} but {root} is a simulated dataset (preset {found!r}); use --dataset {simulated_name}")
        if found_layout is not None and found_layout != self.layout:
            here, wanted = LAYOUTS[found_layout], LAYOUTS[self.layout]
            raise ReconbenchError(
                f"--dataset {self.name} reads the {wanted.title} layout ({wanted.file_hint}) but {root} holds the {here.title} layout "
                f"({here.file_hint}); use --dataset {found_layout}"
            )
        if self.kind == "simulated" and found is not None:
            recorded = simulated_settings(root)
            if dict(recorded) != dict(self.settings):
                suffix = settings_suffix(recorded)
                raise ReconbenchError(
                    f"--dataset {self.name} but {root} was simulated with settings "
                    f"{suffix or '(none)'}; use --dataset {simulated_name}{SEPARATOR + suffix if suffix else ''}"
                )


@dataclass(frozen=True)
class DataFolder:
    """A dataset's folder as one run resolved it (:meth:`Dataset.open`): what cells are handed,
    so that no cell detects the layout or lists the subjects again.

    Attributes
    ----------
    dataset : Dataset
        The catalog entry (name, evaluation size, default cell timeout).
    root : Path
        The data folder, resolved.
    layout : str
        Its file layout (a key of :data:`reconbench.datasets.layouts.LAYOUTS`).
    subjects : tuple of str
        Every subject with files in it.
    stimuli_dir : Path or None
        The stimulus image folder when not ``root/stimuli``.
    """

    dataset: Dataset
    root: Path
    layout: str
    subjects: tuple[str, ...]
    stimuli_dir: Path | None = None

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def file_layout(self) -> Layout:
        return LAYOUTS[self.layout]


def _catalog() -> dict[str, Dataset]:
    datasets = {
        "ds001506": Dataset("ds001506", "ds001506", None, REAL_SUBJECTS, REAL_EVALUATION_SIZE, SESSIONS),
        "god": Dataset("god", "god", None, GOD_SUBJECTS, REAL_EVALUATION_SIZE, god_layout.SESSIONS, layout="god"),
    }
    for name, preset in PRESETS.items():
        size = REAL_EVALUATION_SIZE if preset.image_size >= REAL_EVALUATION_SIZE else None
        datasets[f"simulated:{name}"] = Dataset(
            f"simulated:{name}", "simulated", name, tuple(preset.subjects), size, SESSIONS, cell_timeout=PRESET_CELL_TIMEOUT.get(name, 24 * 3600.0)
        )
    for name, preset in PRESETS.items():
        size = REAL_EVALUATION_SIZE if preset.image_size >= REAL_EVALUATION_SIZE else None
        datasets[f"{SIMULATED_GOD}:{name}"] = Dataset(
            f"{SIMULATED_GOD}:{name}",
            "simulated",
            name,
            tuple(god_subject(s) for s in preset.subjects),
            size,
            god_layout.SESSIONS,
            layout="god",
            cell_timeout=PRESET_CELL_TIMEOUT.get(name, 24 * 3600.0),
        )
    return datasets


#: Dataset name -> :class:`Dataset`.
CATALOG: dict[str, Dataset] = _catalog()


def get_dataset(name: str) -> Dataset:
    """The catalog entry of ``name``; an unknown name raises an error that lists the known ones.

    A sweep point ``simulated:<preset>@<settings>`` is its preset's entry with
    the settings attached (same subjects, sessions and evaluation resolution).
    """
    base, settings = split_name(name)
    if base not in CATALOG:
        raise ReconbenchError(f"unknown dataset {name!r}; expected one of {', '.join(CATALOG)}")
    entry = CATALOG[base]
    if not settings:
        return entry
    if entry.kind != "simulated":
        raise ReconbenchError(f"dataset {name!r}: simulator settings ({SEPARATOR}...) apply to simulated datasets only")
    return replace(entry, name=name, settings=settings)
