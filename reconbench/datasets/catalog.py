"""The catalog of datasets: one :class:`Dataset` object per name.

A dataset name (``ds001506``, ``simulated:<preset>``) is parsed here and
nowhere else. Each entry knows its subjects, its sessions and its evaluation
resolution, the side length at which the evaluator scores it (pinned, part of
the evaluation recipe):

- ``ds001506`` (real data): 256 x 256;
- a simulated preset whose stimuli are at least 256 px (``default``, ``full``):
  256 x 256, so simulated and real scores share a resolution;
- a smaller simulated preset (``tiny``, for tests): its native stimulus size,
  since upsampling tiny images would only make every metric slower.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.simulated.ground_truth import simulated_preset, simulated_settings
from reconbench.datasets.simulated.settings import SEPARATOR, dataset_name, settings_suffix, split_name
from reconbench.datasets.simulated.simulate import PRESETS

#: Evaluation resolution of real data and of simulated presets with stimuli this large.
REAL_EVALUATION_SIZE = 256
REAL_SUBJECTS = ("sub-01", "sub-02", "sub-03")


@dataclass(frozen=True)
class Dataset:
    """One entry of the catalog.

    Attributes
    ----------
    name : str
        As given to ``reconbench run --dataset``.
    kind : str
        ``"ds001506"`` or ``"simulated"``.
    preset : str or None
        The simulator preset (simulated data only).
    subjects : tuple of str
    evaluation_size : int or None
        Scoring resolution; None means the native stimulus size.
    sessions : mapping of str to str
        Session name -> the split part it feeds.
    settings : mapping of str to number
        Simulator knobs changed from the preset (a sweep point,
        ``simulated:<preset>@<name>=<value>``; see
        :mod:`reconbench.datasets.simulated.settings`); empty otherwise.
    """

    name: str
    kind: str
    preset: str | None
    subjects: tuple[str, ...]
    evaluation_size: int | None
    sessions: Mapping[str, str]
    settings: Mapping[str, float | int] = field(default_factory=dict)

    def evaluation_size_for(self, native_size: int) -> int:
        """The side length (pixels) at which this dataset is scored, given its native stimulus size."""
        return int(native_size) if self.evaluation_size is None else int(self.evaluation_size)

    def check_folder(self, root: str | Path) -> None:
        """Refuse a data folder that contradicts this dataset (the name fixes the
        evaluation resolution, so a wrong name would score at the wrong size)."""
        found = simulated_preset(root)
        if self.kind == "simulated" and found is not None and found != self.preset:
            raise ReconbenchError(f"--dataset {self.name} but {root} was simulated with preset {found!r}; use --dataset simulated:{found}")
        if self.kind == "simulated" and found is not None:
            recorded = simulated_settings(root)
            if dict(recorded) != dict(self.settings):
                raise ReconbenchError(
                    f"--dataset {self.name} but {root} was simulated with settings "
                    f"{settings_suffix(recorded) or '(none)'}; use --dataset {dataset_name(found, recorded)}"
                )
        if self.kind == "ds001506" and found is not None:
            raise ReconbenchError(f"--dataset ds001506 but {root} is a simulated dataset (preset {found!r}); use --dataset simulated:{found}")


def _catalog() -> dict[str, Dataset]:
    datasets = {"ds001506": Dataset("ds001506", "ds001506", None, REAL_SUBJECTS, REAL_EVALUATION_SIZE, SESSIONS)}
    for name, preset in PRESETS.items():
        size = REAL_EVALUATION_SIZE if preset.image_size >= REAL_EVALUATION_SIZE else None
        datasets[f"simulated:{name}"] = Dataset(f"simulated:{name}", "simulated", name, tuple(preset.subjects), size, SESSIONS)
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
