"""The runner: run the grid, resumably, and store the rows.

:func:`run_benchmark` builds the grid (:mod:`reconbench.bench.grid`), skips the
cells already stored with the same key and config hash, sends the others to an
executor (:mod:`reconbench.bench.executors`), which runs
:func:`reconbench.bench.cell.run_cell` on each, and writes what comes back into
the :class:`~reconbench.store.results.ResultStore`. :func:`run_preset` is the
main job (``reconbench bench``): simulate a preset if absent, then run it.

The harness never imports the leaderboard (DESIGN.md, "Dependency rules"): the
caller passes a leaderboard writer, which the command line does.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from reconbench.bench.cell import run_cell
from reconbench.bench.evaluator import default_metrics, score
from reconbench.bench.executors import execute, resolve_run_device
from reconbench.bench.grid import build_cells, parse_method_selection, spread_shared_work
from reconbench.bench.options import RunOptions
from reconbench.bench.presets import BENCH_SUBJECTS, bench_grid, default_bench_data, default_bench_out, grid_methods_with_plugins, simulated_dataset_name
from reconbench.bench.registry import discover_methods
from reconbench.bench.sandbox import import_folders, readable_folders
from reconbench.core.errors import ReconbenchError
from reconbench.core.paths import CACHE_ENV, cache_dir
from reconbench.core.stage_cache import default_stage_cache
from reconbench.datasets.catalog import DataFolder, get_dataset
from reconbench.datasets.simulated.ground_truth import read_simulation_info, simulated_preset
from reconbench.datasets.simulated.simulate import LAYOUTS, PRESETS, simulate
from reconbench.store.results import ResultStore


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_out_folder(out: Path, data: Path, stimuli_dir: str | Path | None = None, methods_dir: str | Path | None = None) -> None:
    """Refuse a results folder that is a file or lies inside the data (or stimulus)
    folder, where its files would be read as data by the next load; and any layout
    in which a method process could read the true images: the results folder (its
    ``_true`` thumbnails), the data or the stimulus folder inside ``--methods-dir``
    the cache folder or any other folder a sealed method process may read
    (:func:`~reconbench.bench.sandbox.readable_folders`: the Python installation, a
    virtual environment's folder, ``/usr``...), or ``--methods-dir`` inside the results folder.

    Raises
    ------
    ReconbenchError
    """
    if out.exists() and not out.is_dir():
        raise ReconbenchError(f"--out {out} is a file, not a folder; pass a folder for the results")
    resolved = out.resolve()
    for label, folder in (("data", data), ("stimulus", stimuli_dir)):
        if folder is None:
            continue
        folder = Path(folder).resolve()
        if _within(resolved, folder):
            raise ReconbenchError(f"--out {out} is inside the {label} folder {folder}; results written there would be read as data. Pass a folder outside it")
    readable = [("--methods-dir", Path(methods_dir).resolve())] if methods_dir is not None else []
    readable.append((f"the cache folder (${CACHE_ENV})", cache_dir().resolve()))
    readable.extend(("a folder Python imports from", Path(folder)) for folder in import_folders())
    # Everything else a sealed method process may read: the Python installation (a virtual environment's
    # folder included), the system's library folders.
    readable.extend(
        ("a folder a method process may read", Path(folder).resolve()) for folder in readable_folders(None) if not folder.startswith(("/proc", "/dev"))
    )
    for label, folder in readable:
        for what, path in (("--out", out), ("the data folder", data), ("the stimulus folder", stimuli_dir)):
            if path is not None and _within(Path(path).resolve(), folder):
                raise ReconbenchError(
                    f"{what} {path} is inside {label} {folder}, which a method process may read: it would see the true images. Pass folders apart"
                )
    if methods_dir is not None and _within(Path(methods_dir).resolve(), resolved):
        raise ReconbenchError(f"--methods-dir {methods_dir} is inside --out {out}, where the true images are written. Pass folders apart")


def preflight_metrics(metric_specs: Mapping[str, Any], device: str = "cpu") -> None:
    """Run every metric once on two small random images (on the run's device), so a metric
    that cannot run (e.g. missing weights) stops the run before any method is fitted."""
    rng = np.random.default_rng(0)
    pred = rng.random((2, 3, 32, 32), dtype=np.float32)
    true = rng.random((2, 3, 32, 32), dtype=np.float32)
    score(pred, true, metric_specs, device)


@dataclass
class RunSummary:
    """What a run did."""

    out: Path
    n_cells: int
    n_run: int
    n_skipped: int
    n_failed: int
    failures: list[tuple[str, str]]
    n_failed_total: int
    seconds: float
    rows: pd.DataFrame
    leaderboard_dir: Path | None = None
    #: One line per repair made when the run opened the folder (corrupt cells moved aside, leftovers removed).
    repairs: list[str] | None = None
    #: Cells of this run whose method process ran without filesystem sealing, and why.
    unsealed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: The grid's entries, (dataset, method, param_set, params_hash), reference rows included.
    entries: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)


def _progress_display(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # lazy: only when a bar is shown

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)


def run_benchmark(
    dataset: str, data: str | Path, out: str | Path, options: RunOptions | None = None, *, stimuli_dir: str | Path | None = None, **overrides: Any
) -> RunSummary:
    """Run the grid and write results (and, if ``options.leaderboard``, the leaderboard) into ``out``.

    Parameters
    ----------
    dataset : str
        A catalog name (``"ds001506"``, ``"god"``, ``"simulated:<preset>"``...); fixes the evaluation resolution.
    data : path
        The dataset folder.
    out : path
        The results folder (see :mod:`reconbench.store.results`).
    options : RunOptions, optional
        What to run and how (:class:`~reconbench.bench.options.RunOptions`); default: every method,
        subject and metric, seed 0, one job.
    **overrides
        Fields of :class:`RunOptions` replaced in ``options`` (``run_benchmark(..., seeds=(0, 1))``).
    stimuli_dir : path, optional
        The stimulus image folder, when not ``data/stimuli``.

    Returns
    -------
    RunSummary
    """
    started = time.perf_counter()
    options = RunOptions.build(options, overrides)
    if options.seeds is None:
        options = dataclasses.replace(options, seeds=(0,))
    # The dataset resolved once (folder checked, layout detected, subjects listed): every cell gets it.
    folder = get_dataset(dataset).open(data, stimuli_dir)
    options.checked()
    # Also resolved once for every cell: the device, and the dataset's cell timeout unless one was given.
    options = dataclasses.replace(
        options,
        device=resolve_run_device(options.device, options.scheduler),
        cell_timeout=folder.dataset.cell_timeout if options.cell_timeout is None else options.cell_timeout,
    )
    check_out_folder(Path(out), Path(data), stimuli_dir, options.methods_dir)
    available = discover_methods(options.methods_dir)
    unknown = [s for s in options.subjects or () if s not in folder.subjects]
    if unknown:
        raise ReconbenchError(f"subject(s) {', '.join(unknown)} not in {data}; available: {', '.join(folder.subjects)}")
    subjects = list(options.subjects) if options.subjects else list(folder.subjects)
    if not subjects:
        raise ReconbenchError(f"no subjects found in {data}")
    metric_specs = default_metrics(options.metrics)
    preflight_metrics(metric_specs, options.device)
    plan = _Plan(
        folder=folder,
        subjects=subjects,
        available=available,
        selection=parse_method_selection(options.methods, available),
        metric_specs=metric_specs,
        started=started,
    )
    store = ResultStore(out)
    with store.open_for_run() as repairs:
        # Leftovers of killed stage-cache writes (only when no other run is writing into the cache).
        repairs.extend(f"removed leftover temporary file {p}" for p in default_stage_cache().remove_orphans())
        return _run_locked(store, plan, options, repairs)


@dataclass(frozen=True)
class _Plan:
    """What :func:`run_benchmark` resolved before it took the results folder."""

    folder: DataFolder
    subjects: list[str]
    available: Mapping[str, Any]
    selection: list[tuple[str, str | None]]
    metric_specs: Mapping[str, Any]
    started: float


def _run_locked(store: ResultStore, plan: _Plan, options: RunOptions, repairs: list[str]) -> RunSummary:
    """The part of :func:`run_benchmark` that runs while it holds the results folder."""
    out = store.root
    cells = build_cells(plan.folder, plan.subjects, plan.available, plan.selection, plan.metric_specs, options)
    todo = [c for c in cells if options.force or not store.finished(c.key, c.config_hash, retry_failed=options.retry_failed)]
    # Cells that share a stage (one generator, several decoder ablations) do not start side by side.
    todo = spread_shared_work(todo, plan.available)
    n_failed = 0
    failures: list[tuple[str, str]] = []
    unsealed: list[tuple[str, str]] = []

    with _progress_display(options.progress) as bar:
        overall = bar.add_task("cells", total=len(cells), completed=len(cells) - len(todo)) if bar else None
        stage_tasks: dict[int, Any] = {}
        lock = threading.Lock()

        def on_event(index: int, stage: str, step: int, total: int) -> None:
            with lock:
                label = f"  {todo[index].label}: {stage}"
                if index not in stage_tasks:
                    stage_tasks[index] = bar.add_task(label, total=max(total, 1))
                bar.update(stage_tasks[index], description=label, completed=step, total=max(total, 1))
                if stage == "done":
                    bar.remove_task(stage_tasks.pop(index))

        events = on_event if (bar is not None and options.scheduler is None) else None
        for spec, result in execute(run_cell, todo, jobs=options.jobs, scheduler=options.scheduler, on_event=events):
            store.write_cell(spec.key, result.rows, result.record, result.files)
            if result.record.get("sealed") == "no":
                unsealed.append((spec.label, str(result.record.get("seal_note", ""))))
            if result.record["status"] != "ok":
                n_failed += 1
                errors = "; ".join(f"{k}: {v}" for k, v in result.record["errors"].items())
                output = result.record.get("method_output")
                if output:  # where the method's own stdout and stderr went
                    errors += f" (method output: {Path(out) / output['path']})"
                failures.append((spec.label, errors))
            if bar is not None:
                bar.advance(overall)

    # Every stored cell, not only this grid's: a results folder accumulates runs
    # (e.g. a user's method added to the committed reference later).
    rows = store.consolidate()
    leaderboard_dir = None
    if options.leaderboard:
        leaderboard_dir = options.leaderboard(Path(out), rows)
    return RunSummary(
        out=Path(out),
        n_cells=len(cells),
        n_run=len(todo),
        n_skipped=len(cells) - len(todo),
        n_failed=n_failed,
        failures=failures,
        n_failed_total=int(rows.loc[rows["status"] == "failed", "cell_key"].nunique()),
        seconds=time.perf_counter() - plan.started,
        rows=rows,
        leaderboard_dir=leaderboard_dir,
        repairs=list(repairs),
        unsealed=unsealed,
        entries=sorted({(c.dataset, c.method, c.param_set, c.params_hash) for c in cells}),
    )


def print_summary(summary: RunSummary) -> None:
    """Print a short run summary with rich."""
    from rich.console import Console  # lazy: rich only for console output
    from rich.markup import escape

    console = Console(stderr=True)
    for line in summary.repairs or []:
        console.print(f"repaired: {line}", markup=False, highlight=False)
    console.print(
        f"[bold]{summary.n_cells}[/] cells: {summary.n_run} run, {summary.n_skipped} already done (skipped), "
        f"{summary.n_failed} failed, in {summary.seconds:.1f} s"
    )
    for label, error in summary.failures:
        # Names such as "method[default]" are printed literally, never read as markup.
        console.print(f"  [red]failed[/] {escape(label)}: {escape(error)}")
    if summary.unsealed:
        console.print(
            f"  [yellow]unsealed[/]: {len(summary.unsealed)} cell(s) ran without filesystem sealing "
            f"({summary.unsealed[0][1] or 'not available'}); their methods could read the data folder. "
            "Rows record sealed = 'no'; see docs/add-a-method.md, 'What a sealed method process may do'."
        )
    earlier = summary.n_failed_total - summary.n_failed
    if earlier > 0:
        console.print(f"  {earlier} cell(s) failed in an earlier run and were not retried (--retry-failed reruns them)")
    console.print(f"results: {summary.out / 'results.parquet'} (and results.csv)", markup=False)
    if summary.leaderboard_dir is not None:
        console.print(
            f"leaderboard: {summary.leaderboard_dir / 'leaderboard.md'}, "
            f"{summary.leaderboard_dir / 'leaderboard.html'}, {summary.leaderboard_dir / 'leaderboard.csv'}",
            markup=False,
        )


# ---------------------------------------------------------------------------
# The main job


def resolve_run_data(dataset: str, data: str | Path | None) -> Path:
    """The data folder of ``reconbench run``: ``data`` if given, else the dataset's default
    folder (the same rule as ``bench``; :meth:`~reconbench.datasets.catalog.Dataset.default_folder`)."""
    return Path(data).expanduser() if data is not None else get_dataset(dataset).default_folder()


def run_preset(
    preset: str = "default",
    options: RunOptions | None = None,
    *,
    layout: str = "ds001506",
    data: str | Path | None = None,
    out: str | Path | None = None,
    grid: str = "headline",
    blind: bool = False,
    **overrides: Any,
) -> RunSummary:
    """The main job: simulate ``preset`` (seed 0) into ``data`` if it is not there,
    run the preset's ``grid`` (:data:`BENCH_GRIDS`; ``options.methods`` and ``options.seeds``
    replace its methods and seeds) and write results and the leaderboard into
    ``out`` (default ``runs/<preset>``: a folder of the user's own, never the
    committed reference ``results/<preset>``, so that every cell is computed).
    ``overrides`` replace fields of ``options`` (:class:`RunOptions`).

    A second call skips every finished cell and rewrites identical files.

    ``blind``: simulate the preset from a fresh secret seed into a private temporary folder
    (removed after the run) instead of seed 0, for evaluating untrusted methods, which could
    otherwise regenerate the public seed-0 data; the seed is kept in ``<out>/blind.json``
    (readable by no method process; a resumed blind run reuses it). Default ``out``:
    ``runs/<preset>-blind``.
    """
    options = RunOptions.build(options, overrides)
    if blind:
        return _run_blind(preset, options, layout=layout, data=data, out=out, grid=grid)
    if preset not in PRESETS:
        raise ReconbenchError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if layout not in LAYOUTS:
        raise ReconbenchError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    data = Path(data).expanduser() if data is not None else default_bench_data(preset, layout)
    chosen = bench_grid(preset, grid)
    options = dataclasses.replace(
        options,
        seeds=options.seeds if options.seeds is not None else chosen.seeds,
        subjects=options.subjects or BENCH_SUBJECTS.get(preset),
        methods=options.methods or grid_methods_with_plugins(chosen, options.methods_dir),
    ).checked()
    # Before any simulation: a bad --device stops here.
    options = dataclasses.replace(options, device=resolve_run_device(options.device, options.scheduler))
    out = Path(out) if out is not None else default_bench_out(preset, layout)
    check_out_folder(out, data)
    found = simulated_preset(data)
    if found is None:
        if data.exists() and any(data.iterdir()):
            raise ReconbenchError(f"{data} exists but holds no simulated dataset (no ground_truth/simulation.json); pass --data with an empty or new folder")
        if data.exists():
            data.rmdir()
        simulate(preset=preset, out=data, seed=0, force=False, progress=options.progress, layout=layout)
    elif found != preset:
        raise ReconbenchError(f"{data} holds the {found!r} preset, not {preset!r}; pass --data for another folder")
    elif (read_simulation_info(data) or {}).get("layout", "ds001506") != layout:
        raise ReconbenchError(f"{data} holds the {preset!r} preset in another layout than {layout!r}; pass --data for another folder")
    return run_benchmark(simulated_dataset_name(preset, layout), data, out, options)


#: Where a blind run keeps its secret simulation seed (in its results folder, which no method process reads).
BLIND_FILE = "blind.json"


def _run_blind(preset: str, options: RunOptions, *, layout: str, data: str | Path | None, out: str | Path | None, grid: str) -> RunSummary:
    """:func:`run_preset` with ``blind=True``."""
    import json
    import secrets
    import shutil
    import tempfile

    from reconbench.core import atomic

    if data is not None:
        raise ReconbenchError("--blind simulates its own data from a secret seed into a private temporary folder; do not pass --data")
    if preset not in PRESETS:
        raise ReconbenchError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    out = Path(out) if out is not None else Path(f"{default_bench_out(preset, layout)}-blind")
    record_path = out / BLIND_FILE
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("preset") != preset or record.get("layout") != layout or not isinstance(record.get("seed"), int):
            raise ReconbenchError(f"{record_path} is the blind record of another run ({record}); pass another --out")
        seed = int(record["seed"])
    else:
        if (out / "cells").is_dir() and any((out / "cells").iterdir()):
            raise ReconbenchError(f"--out {out} holds cells of a run that was not blind; pass a new folder for a blind run")
        seed = 1 + secrets.randbelow(2**31 - 2)  # never 0, the public seed
        atomic.write_text(record_path, json.dumps({"preset": preset, "layout": layout, "seed": seed}, indent=2, sort_keys=True) + "\n")
    private = Path(tempfile.mkdtemp(prefix="reconbench-blind-"))  # 0700, under $TMPDIR: no method process reads it
    try:
        folder = private / "data"
        simulate(preset=preset, out=folder, seed=seed, force=False, progress=options.progress, layout=layout)
        return run_preset(preset, options, layout=layout, data=folder, out=out, grid=grid)
    finally:
        shutil.rmtree(private, ignore_errors=True)
