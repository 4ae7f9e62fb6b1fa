"""``reconbench sweep``: chosen methods over a grid of simulator settings.

A sweep varies one simulator knob (:mod:`reconbench.datasets.simulated.settings`)
over a list of values, for example the trial SNR over a 16x range around the
preset's value. Each value is a dataset of its own, ``simulated:<preset>@<knob>=<value>``:

1. simulated (seed 0) into ``<data root>/simulated-<preset>@<knob>=<value>`` if
   that folder is absent (a folder that holds other settings is refused);
2. run like ``reconbench run`` into the one results folder ``out``: same cells,
   same store, resumable (finished cells are skipped), parallel with ``-j``;
3. at the end, one leaderboard over every point; its HTML page adds a
   score-versus-setting plot per test set and metric, one line per method with
   95% intervals (:mod:`reconbench.leaderboard.sweep`).

For the measurement knobs (``snr``, the repetitions, ``training_per_category``)
every point shares the stimuli, the test images and the simulated voxels'
tuning; only the measurement changes, so differences between points are the
knob's effect (plus the method's own randomness, fixed by the seed).
``test_categories`` and ``category_surface`` change the images themselves
(:mod:`reconbench.datasets.simulated.settings`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from reconbench.bench.executors import resolve_run_device
from reconbench.bench.options import RunOptions
from reconbench.bench.presets import BENCH_SUBJECTS, bench_grid, grid_methods_with_plugins
from reconbench.bench.runner import RunSummary, check_out_folder, run_benchmark
from reconbench.core.errors import ReconbenchError
from reconbench.datasets.simulated.ground_truth import simulated_preset
from reconbench.datasets.simulated.settings import KNOBS, dataset_name, parse_value
from reconbench.datasets.simulated.simulate import PRESETS, simulate
from reconbench.store.results import dataset_folder_name

#: Environment variable of the folder that holds the sweep's simulated datasets.
SWEEP_DATA_ENV = "RECONBENCH_SWEEP_DATA"


def default_sweep_data_root() -> Path:
    """Where sweep points are simulated: ``$RECONBENCH_SWEEP_DATA``, else ``~/reconbench_data``."""
    env = os.environ.get(SWEEP_DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / "reconbench_data"


@dataclass
class SweepSummary:
    """What a sweep did: one :class:`RunSummary` per point, in the order given."""

    out: Path
    knob: str
    points: list[tuple[str, Path, RunSummary]] = field(default_factory=list)
    leaderboard_dir: Path | None = None

    @property
    def n_failed(self) -> int:
        return sum(s.n_failed for _, _, s in self.points)


def sweep_points(preset: str, knob: str, values: Sequence[float | int | str]) -> list[tuple[str, dict]]:
    """The sweep's points as (dataset name, settings), in the order given.

    Raises
    ------
    ReconbenchError
        Unknown preset or knob, no values, an invalid value, or a value given twice.
    """
    if preset not in PRESETS:
        raise ReconbenchError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if knob not in KNOBS:
        raise ReconbenchError(f"unknown simulator setting {knob!r}; settings a sweep can vary: {', '.join(KNOBS)}")
    if not values:
        raise ReconbenchError(f"no values given for {knob}; pass e.g. --values 0.01,0.02,0.04")
    points: list[tuple[str, dict]] = []
    for value in values:
        parsed = parse_value(knob, str(value)) if isinstance(value, str) else parse_value(knob, repr(value))
        name = dataset_name(preset, {knob: parsed})
        if any(name == n for n, _ in points):
            raise ReconbenchError(f"value {value!r} of {knob} is given twice")
        points.append((name, {knob: parsed}))
    return points


def run_sweep(
    preset: str,
    knob: str,
    values: Sequence[float | int | str],
    out: str | Path,
    options: RunOptions | None = None,
    *,
    data_root: str | Path | None = None,
    echo=None,
    **overrides: Any,
) -> SweepSummary:
    """Run ``options.methods`` on ``preset`` at each value of ``knob``, into one results folder ``out``.

    Parameters
    ----------
    preset : str
        Simulator preset the points start from (``tiny``, ``ci``, ``default``, ``full``).
    knob : str
        A key of :data:`reconbench.datasets.simulated.settings.KNOBS`.
    values : sequence
        The knob's values (numbers, or their text).
    out : path
        Results folder shared by every point.
    options : RunOptions, optional
        As for :func:`reconbench.bench.runner.run_benchmark` (``overrides`` replace its fields);
        subjects and methods default to what ``reconbench bench`` runs for the preset, seeds to
        ``(0,)``. The leaderboard (``options.leaderboard``) is written once, at the end.
    data_root : path, optional
        Folder of the simulated points; default :func:`default_sweep_data_root`.
    echo : callable, optional
        ``echo(text)`` for one line per point (the command line prints it).
    """
    points = sweep_points(preset, knob, values)
    options = RunOptions.build(options, overrides)
    options = dataclasses.replace(
        options,
        seeds=options.seeds if options.seeds is not None else (0,),
        subjects=options.subjects or BENCH_SUBJECTS.get(preset),
        methods=options.methods or grid_methods_with_plugins(bench_grid(preset), options.methods_dir),
    ).checked()
    options = dataclasses.replace(options, device=resolve_run_device(options.device, options.scheduler))  # once for every point
    leaderboard = options.leaderboard
    per_point = dataclasses.replace(options, leaderboard=None)
    root = Path(data_root).expanduser() if data_root is not None else default_sweep_data_root()
    out = Path(out)
    folders = [root / dataset_folder_name(name) for name, _ in points]
    for folder in folders:
        check_out_folder(out, folder)
    summary = SweepSummary(out=out, knob=knob)
    for index, ((name, settings), folder) in enumerate(zip(points, folders), start=1):
        if simulated_preset(folder) is None:
            if folder.exists() and any(folder.iterdir()):
                raise ReconbenchError(f"{folder} exists but holds no simulated dataset (no ground_truth/simulation.json); move it or pass another --data-root")
            if folder.exists():
                folder.rmdir()
            if echo:
                echo(f"[{index}/{len(points)}] simulating {name} into {folder}")
            simulate(preset=preset, out=folder, seed=0, settings=settings, progress=options.progress)
        if echo:
            echo(f"[{index}/{len(points)}] running {name}")
        result = run_benchmark(name, folder, out, per_point)
        summary.points.append((name, folder, result))
        if echo:
            echo(f"[{index}/{len(points)}] {name}: {result.n_run} cell(s) run, {result.n_skipped} already done, {result.n_failed} failed")
    if leaderboard:
        # The last point's run consolidated every stored cell of ``out`` (all points, and any earlier runs).
        summary.leaderboard_dir = leaderboard(out, summary.points[-1][2].rows)
    return summary
