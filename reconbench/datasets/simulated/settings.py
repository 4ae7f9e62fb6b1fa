"""Simulator settings a scenario sweep can vary, and the dataset names that carry them.

A sweep point is a preset with some knobs changed, e.g. the ``default`` preset at
a quarter of its trial SNR. Its dataset name is the preset's name plus the
changed knobs in a canonical order::

    simulated:default@snr=0.01
    simulated:default@snr=0.01,training_reps=2

The name is the identity of the point everywhere: the data folder it is
simulated into (``simulated-default@snr=0.01``), the results rows (``dataset``
column) and the leaderboard's score-versus-setting curves. ``simulate`` records
the settings in ``ground_truth/simulation.json``, and a run refuses a folder
whose recorded settings differ from the name it was given.

Only knobs that change the measurement and leave the stimuli and the encoding
world alone are offered, so every point of a sweep is scored on the same test
images with the same voxel tuning:

- ``snr``: single-trial SNR of a typical V1 voxel (``NoiseConfig.snr``; other
  ROIs keep their ratio to V1);
- ``training_reps``: repetitions of each training image (averaged by the loader);
- ``test_reps``: repetitions of each natural test image (averaged by the loader).

The number of training images is not offered yet: in the simulator's current
stimulus design it also changes which images are drawn for the test set and the
category prototypes of the semantic stage, so points would differ in more than
the knob (see the notes of the sweep in the README).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from reconbench.core.errors import ReconbenchError
from reconbench.core.names import SEPARATOR, split_settings_text


@dataclass(frozen=True)
class Knob:
    """One sweepable setting.

    Attributes
    ----------
    name : str
    kind : type
        ``float`` or ``int``.
    minimum : float
        Smallest valid value (inclusive).
    log_scale : bool
        Plot the setting on a logarithmic axis.
    description : str
    """

    name: str
    kind: type
    minimum: float
    log_scale: bool
    description: str


KNOBS: dict[str, Knob] = {
    "snr": Knob("snr", float, 1e-6, True, "single-trial SNR of a typical V1 voxel"),
    "training_reps": Knob("training_reps", int, 1, True, "repetitions of each training image"),
    "test_reps": Knob("test_reps", int, 1, True, "repetitions of each natural test image"),
}
"""Setting name -> :class:`Knob`."""


def format_value(value: float | int) -> str:
    """The canonical text of a setting value (``0.01``, ``2``, ``1e-05``): ``repr`` of the number, so it round-trips."""
    return repr(int(value)) if isinstance(value, int) else repr(float(value))


def check_settings(settings: Mapping[str, float | int]) -> dict[str, float | int]:
    """Validate ``settings`` (name -> value) and return them typed and in canonical (sorted) order.

    Raises
    ------
    ReconbenchError
        An unknown knob, a value of the wrong type, or out of range; the message names the knob and the valid ones.
    """
    out: dict[str, float | int] = {}
    for name in sorted(settings):
        if name not in KNOBS:
            raise ReconbenchError(f"unknown simulator setting {name!r}; settings a sweep can vary: {', '.join(KNOBS)}")
        knob, value = KNOBS[name], settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ReconbenchError(f"setting {name} must be a number, got {value!r}")
        if knob.kind is int:
            if float(value) != int(value):
                raise ReconbenchError(f"setting {name} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if not math.isfinite(value) or value < knob.minimum:
            raise ReconbenchError(f"setting {name} must be a finite number >= {format_value(knob.kind(knob.minimum))}, got {value!r}")
        out[name] = value
    return out


def parse_value(name: str, text: str) -> float | int:
    """Parse one value of knob ``name`` from text (``--values 0.01,0.02``), with an error naming the knob."""
    if name not in KNOBS:
        raise ReconbenchError(f"unknown simulator setting {name!r}; settings a sweep can vary: {', '.join(KNOBS)}")
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        raise ReconbenchError(f"setting {name}: {text!r} is not a number") from None
    if KNOBS[name].kind is int:
        if not number.is_integer():
            raise ReconbenchError(f"setting {name} must be a whole number, got {text!r}")
        return check_settings({name: int(number)})[name]
    return check_settings({name: number})[name]


def settings_suffix(settings: Mapping[str, float | int]) -> str:
    """``{"snr": 0.01}`` -> ``"snr=0.01"`` (sorted by name; empty for no settings)."""
    checked = check_settings(settings)
    return ",".join(f"{name}={format_value(value)}" for name, value in checked.items())


def dataset_name(preset: str, settings: Mapping[str, float | int] | None = None) -> str:
    """The dataset name of ``preset`` with ``settings`` (``simulated:<preset>`` when there are none)."""
    suffix = settings_suffix(settings or {})
    return f"simulated:{preset}" + (f"{SEPARATOR}{suffix}" if suffix else "")


def split_name(name: str) -> tuple[str, dict[str, float | int]]:
    """``"simulated:default@snr=0.01"`` -> ``("simulated:default", {"snr": 0.01})``.

    A name without ``@`` has no settings. The settings must be in canonical form
    (as :func:`dataset_name` writes them), so one point has one name.
    """
    base, pairs = split_settings_text(name)
    settings = {key: parse_value(key, text) for key, text in pairs}
    if not pairs:
        return base, settings
    canonical = settings_suffix(settings)
    if canonical != name.partition(SEPARATOR)[2]:
        raise ReconbenchError(f"dataset {name!r} is not in canonical form; write it as {base}{SEPARATOR}{canonical}")
    return base, settings


def apply_settings(preset, settings: Mapping[str, float | int]):
    """The preset (a :class:`reconbench.datasets.simulated.simulate.Preset`) with ``settings`` applied."""
    changes: dict[str, Callable] = {
        "snr": lambda p, v: replace(p, noise=replace(p.noise, snr=float(v))),
        "training_reps": lambda p, v: replace(p, training_reps=int(v)),
        "test_reps": lambda p, v: replace(p, test_reps=int(v)),
    }
    for name, value in check_settings(settings).items():
        preset = changes[name](preset, value)
    return preset


def preset_value(preset, name: str) -> float | int:
    """The value of knob ``name`` in ``preset`` as shipped (the point a sweep is centred on)."""
    if name not in KNOBS:
        raise ReconbenchError(f"unknown simulator setting {name!r}; settings a sweep can vary: {', '.join(KNOBS)}")
    return float(preset.noise.snr) if name == "snr" else int(getattr(preset, name))
