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

Every knob but one changes the measurement and leaves the stimuli and the
encoding world alone, so every point of a sweep is scored on the same test
images with the same voxel tuning:

- ``snr``: single-trial SNR of a typical V1 voxel (``NoiseConfig.snr``; other
  ROIs keep their ratio to V1);
- ``training_reps``: repetitions of each training image (averaged by the loader);
- ``test_reps``: repetitions of each natural test image (averaged by the loader);
- ``training_per_category``: training images per category (the first of the
  preset's ``images_per_category``; the world, voxel normalisation and category
  prototypes stay those of the full design, so fewer images are shown of the
  same world).

Two knobs are exceptions. ``test_categories`` (``unseen`` or ``seen``) is the
design itself, so the ``seen`` point has other test images and a world built on
other categories; it is the knob for studying category leakage.
``category_surface`` (0 to 1) is the simulator's calibration knob: the
probability that each surface group of a natural image (object palette, object
texture, background) is its category's rather than drawn at random
(:func:`reconbench.datasets.simulated.stimuli.image_surface`), so how much
category information the low-level statistics, and with them the lower visual
areas, carry. Its points share every image's pose, outline and background
noise and the voxels' tuning, but not the surfaces that flip, so their images
differ.
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
        ``float``, ``int`` or ``str``.
    minimum : float
        Smallest valid value (inclusive; numbers only).
    maximum : float
        Largest valid value (inclusive; numbers only; infinite for most).
    log_scale : bool
        Plot the setting on a logarithmic axis.
    description : str
    """

    name: str
    kind: type
    minimum: float
    log_scale: bool
    description: str
    choices: tuple[str, ...] = ()
    maximum: float = math.inf


KNOBS: dict[str, Knob] = {
    "snr": Knob("snr", float, 1e-6, True, "single-trial SNR of a typical V1 voxel"),
    "training_reps": Knob("training_reps", int, 1, True, "repetitions of each training image"),
    "test_reps": Knob("test_reps", int, 1, True, "repetitions of each natural test image"),
    "training_per_category": Knob("training_per_category", int, 1, True, "training images per category"),
    "test_categories": Knob("test_categories", str, 0, False, "test images from held-out (unseen) or training (seen) categories", ("unseen", "seen")),
    "category_surface": Knob(
        "category_surface", float, 0.0, False, "probability that a natural image's palette, texture and background are its category's", maximum=1.0
    ),
}
"""Setting name -> :class:`Knob`."""


Value = float | int | str


def format_value(value: Value) -> str:
    """The canonical text of a setting value (``0.01``, ``2``, ``1e-05``, ``seen``): ``repr`` of a number, so it round-trips."""
    if isinstance(value, str):
        return value
    return repr(int(value)) if isinstance(value, int) else repr(float(value))


def check_settings(settings: Mapping[str, Value]) -> dict[str, Value]:
    """Validate ``settings`` (name -> value) and return them typed and in canonical (sorted) order.

    Raises
    ------
    ReconbenchError
        An unknown knob, a value of the wrong type, or out of range; the message names the knob and the valid ones.
    """
    out: dict[str, Value] = {}
    for name in sorted(settings):
        if name not in KNOBS:
            raise ReconbenchError(f"unknown simulator setting {name!r}; settings a sweep can vary: {', '.join(KNOBS)}")
        knob, value = KNOBS[name], settings[name]
        if knob.kind is str:
            if value not in knob.choices:
                raise ReconbenchError(f"setting {name} must be one of {', '.join(knob.choices)}, got {value!r}")
            out[name] = str(value)
            continue
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
        if value > knob.maximum:
            raise ReconbenchError(f"setting {name} must be <= {format_value(knob.kind(knob.maximum))}, got {value!r}")
        out[name] = value
    return out


def parse_value(name: str, text: str) -> Value:
    """Parse one value of knob ``name`` from text (``--values 0.01,0.02``), with an error naming the knob."""
    if name not in KNOBS:
        raise ReconbenchError(f"unknown simulator setting {name!r}; settings a sweep can vary: {', '.join(KNOBS)}")
    text = text.strip()
    if KNOBS[name].kind is str:
        return check_settings({name: text})[name]
    try:
        number = float(text)
    except ValueError:
        raise ReconbenchError(f"setting {name}: {text!r} is not a number") from None
    if KNOBS[name].kind is int:
        if not number.is_integer():
            raise ReconbenchError(f"setting {name} must be a whole number, got {text!r}")
        return check_settings({name: int(number)})[name]
    return check_settings({name: number})[name]


def settings_suffix(settings: Mapping[str, Value]) -> str:
    """``{"snr": 0.01}`` -> ``"snr=0.01"`` (sorted by name; empty for no settings)."""
    checked = check_settings(settings)
    return ",".join(f"{name}={format_value(value)}" for name, value in checked.items())


def dataset_name(preset: str, settings: Mapping[str, Value] | None = None) -> str:
    """The dataset name of ``preset`` with ``settings`` (``simulated:<preset>`` when there are none)."""
    suffix = settings_suffix(settings or {})
    return f"simulated:{preset}" + (f"{SEPARATOR}{suffix}" if suffix else "")


def split_name(name: str) -> tuple[str, dict[str, Value]]:
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


def apply_settings(preset, settings: Mapping[str, Value]):
    """The preset (a :class:`reconbench.datasets.simulated.simulate.Preset`) with ``settings`` applied."""
    changes: dict[str, Callable] = {
        "snr": lambda p, v: replace(p, noise=replace(p.noise, snr=float(v))),
        "training_reps": lambda p, v: replace(p, training_reps=int(v)),
        "test_reps": lambda p, v: replace(p, test_reps=int(v)),
        "training_per_category": lambda p, v: replace(p, training_per_category=int(v)),
        "test_categories": lambda p, v: replace(p, test_categories=str(v)),
        "category_surface": lambda p, v: replace(p, category_surface=float(v)),
    }
    for name, value in check_settings(settings).items():
        preset = changes[name](preset, value)
    return preset


def preset_value(preset, name: str) -> Value:
    """The value of knob ``name`` in ``preset`` as shipped (the point a sweep is centred on)."""
    if name not in KNOBS:
        raise ReconbenchError(f"unknown simulator setting {name!r}; settings a sweep can vary: {', '.join(KNOBS)}")
    if name == "snr":
        return float(preset.noise.snr)
    if name == "training_per_category":
        return int(preset.used_per_category)
    if KNOBS[name].kind is float:
        return float(getattr(preset, name))
    if KNOBS[name].kind is str:
        return str(getattr(preset, name))
    return int(getattr(preset, name))
