"""One cell of the grid: fit a method (or a reference row) once, score every test set.

A cell is described by a small picklable :class:`CellSpec` and run by the
module-level :func:`run_cell`, wherever the executor puts it (this process,
local worker processes, a Dask worker). The parent process alone writes the
:class:`~reconbench.store.results.ResultStore`, so workers never race on files.

What a method sees: ``split.train`` and, per test set, a ``TestInput`` (fMRI
and stimulus ids). Methods that declare ``is_oracle = True`` also get the true
test images in ``TestInput.oracle_images`` (their rows are marked ``oracle``).
A reference row (``kind = "reference"``, :mod:`reconbench.references`) also
gets the dataset's ground truth; it either makes images, scored like a
method's, or gives its scores directly.

Seeds: a cell's seed is passed to the method as its ``seed`` (or
``random_state``) keyword when ``__init__`` has one; otherwise the method is
taken to be deterministic and the seed is only recorded.

Failures: an exception raised by a method's ``fit`` fails the whole cell; one
raised by ``reconstruct`` or found by the output check (wrong shape, range or
ids: in the method process for a method's output, by the evaluator for a
reference's) fails that test set. Either way the error is recorded in the result rows
(``status = "failed"``, ``error``) and in ``cells/<key>.json`` with the
traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from reconbench.bench.diagnostics import stage_diagnostics
from reconbench.bench.evaluator import Evaluator, default_metrics, evaluation_size, score
from reconbench.bench.executors import limit_threads, run_process_pid
from reconbench.bench.sandbox import SEED_KEYWORDS, prestart, run_method  # noqa: F401 - SEED_KEYWORDS re-exported
from reconbench.bench.shared_split import load_shared
from reconbench.core.device import device_info
from reconbench.core.errors import ReconbenchError
from reconbench.core.images import png_bytes, resize
from reconbench.core.profiling import PeakMemory
from reconbench.core.provenance import code_version, package_versions
from reconbench.core.types import GroundTruthView, Split
from reconbench.datasets.layouts import LAYOUTS, Layout, detect_layout
from reconbench.datasets.simulated.ground_truth import read_categories, read_category_embedding, read_noise_free
from reconbench.datasets.splits import load_split
from reconbench.metrics.features import reusing_features
from reconbench.metrics.weights import forget_loaded_hashes, loaded_hashes
from reconbench.references import get_reference
from reconbench.store.results import COLUMNS, cell_key, reconstruction_dir

#: Side (pixels) of the reconstruction PNGs saved for the leaderboard grid.
THUMBNAIL_SIZE = 64
#: The ``error`` text of an ``ok`` row whose score is NaN.
NAN_REASON = "NaN score: {metric} is undefined for this image (e.g. a correlation with a constant image); tables leave it out of the mean and say so"

Report = Callable[..., None]


@dataclass(frozen=True)
class CellSpec:
    """Everything a worker needs to run one cell (picklable, no arrays)."""

    method: str
    param_set: str
    params: Mapping[str, Any]
    params_hash: str
    kind: str  # "method", "oracle" or "reference"
    dataset: str
    subject: str
    seed: int
    data_root: str
    stimuli_dir: str | None
    methods_dir: str | None
    metrics: tuple[str, ...]
    config_hash: str
    #: torch/BLAS threads inside the cell (same value in every executor, so
    #: float reductions run in the same order and rows stay bitwise equal).
    threads: int = 1
    #: The run's device (:func:`reconbench.core.device.resolve_device`: "cpu", "cuda" or "cuda:N"):
    #: handed to a method that takes a ``device`` keyword, used by the network metrics, recorded in
    #: every row; part of the cell key only when it is not the CPU.
    device: str = "cpu"
    #: Wall-clock limit of the method process (seconds); None: no limit.
    cell_timeout: float | None = None
    #: Resident-memory cap of the method process (MB); None: no cap.
    cell_memory_mb: float | None = None
    #: Seal the method process's filesystem view where the platform allows (Landlock).
    seal: bool = True
    #: The data folder's file layout, resolved once per run (:class:`reconbench.datasets.catalog.DataFolder`);
    #: "" (a spec made by hand): detected where needed.
    layout: str = ""
    #: Where a method's class lives (:func:`reconbench.bench.registry.method_source`: module, class, file),
    #: looked up once when the grid is built; the cell's method process imports the class from it, and
    #: the harness never looks the method up again (no import of a plugin, sealed or not, per cell or worker).
    #: None for a reference row (harness code, run in the cell's own process).
    method_source: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind != "reference" and not self.method_source:
            raise ValueError(f"cell {self.label}: a {self.kind} cell needs its method_source (reconbench.bench.grid.build_cells sets it)")

    @property
    def key(self) -> str:
        return cell_key(self.method, self.params_hash, self.dataset, self.subject, self.seed, self.device)

    @property
    def label(self) -> str:
        return f"{self.method}[{self.param_set}] {self.subject} seed {self.seed}"


@dataclass
class CellResult:
    """What a worker returns: result rows, the cell record and PNG files by relative path."""

    rows: pd.DataFrame
    record: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def _layout(spec_layout: str, root: str) -> Layout:
    return LAYOUTS[spec_layout] if spec_layout else detect_layout(root)


@functools.lru_cache(maxsize=2)
def _load_split_cached(root: str, subject: str, stimuli_dir: str | None, layout: str = ""):
    """Load a split once per run: the first process of the run loads it and writes it
    to the run's shared file, every process (``-j`` workers, each cell's method
    process) maps that file read-only (:mod:`reconbench.bench.shared_split`). A
    method that changes its inputs in place fails loudly. The test images stay in
    the harness's processes: a method process is handed only the training data and
    test inputs."""

    def load():
        return load_split(root, subject, stimuli_dir=stimuli_dir, progress=False, layout=_layout(layout, root))

    return load_shared((root, subject, stimuli_dir, _data_stamp(root, subject, layout)), run_process_pid(), load)


def _data_stamp(root: str, subject: str, layout: str = "") -> list:
    """Size and modification time of the subject's data files and the split manifest: a file
    rewritten during a run's process's life gets a new shared split, never the old one."""
    stamp = []
    for path in _layout(layout, root).subject_files(root, subject):
        stat = path.stat()
        stamp.append([path.name, stat.st_size, stat.st_mtime_ns])
    manifest = Path(root) / "reconbench_split.json"
    if manifest.is_file():
        stat = manifest.stat()
        stamp.append([manifest.name, stat.st_size, stat.st_mtime_ns])
    return stamp


def ground_truth_view(root: str | Path, subject: str, layout: str = "") -> GroundTruthView:
    """The simulator's ground truth of one subject as references see it (empty for real data);
    ``layout``: the folder's, when known (else detected)."""
    noise_free = read_noise_free(root, subject)
    by_test_set, training = None, None
    if noise_free is not None:
        layout = _layout(layout, str(root))
        by_test_set = {test_set: noise_free[session] for test_set, session in layout.test_set_sessions.items() if session in noise_free}
        training = noise_free.get(layout.train_session)
    embedding = read_category_embedding(root, subject)
    vectors = None if embedding is None else {str(k): embedding[k] for k in range(embedding.shape[0])}
    return GroundTruthView(categories=read_categories(root), noise_free=by_test_set, noise_free_training=training, category_vectors=vectors)


def _json_safe(value: Any) -> Any:
    """``value`` if it survives a JSON round trip, else its ``repr`` (a method's log must not break a cell)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _finite(value: float) -> float:
    return 0.0 if value is None or np.isnan(value) else float(value)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _rows_for(
    spec: CellSpec, test_set: str, ids: Sequence[str], scores: Mapping[str, np.ndarray], metric_specs: Mapping[str, Any], run: Mapping[str, Any]
) -> list[dict]:
    rows = []
    for metric, values in scores.items():
        meta = metric_specs[metric]
        chance = getattr(meta, "chance", None)
        for stimulus_id, value in zip(ids, values):
            # A NaN score is kept as data, with its reason in ``error`` (the row stays ``ok``).
            reason = "" if not np.isnan(value) else NAN_REASON.format(metric=metric)
            rows.append(
                {
                    "metric": metric,
                    "stimulus_id": str(stimulus_id),
                    "value": float(value),
                    "higher_is_better": bool(meta.higher_is_better),
                    "chance": float("nan") if chance is None else float(chance),
                    "test_set": test_set,
                    "status": "ok",
                    "error": reason,
                    **run,
                }
            )
    return rows


def _failed_row(test_set: str, error: str, run: Mapping[str, Any]) -> dict:
    return {
        "metric": "",
        "stimulus_id": "",
        "value": float("nan"),
        "higher_is_better": pd.NA,
        "chance": float("nan"),
        "test_set": test_set,
        "status": "failed",
        "error": error,
        **run,
    }


def run_cell(spec: CellSpec, report: Report | None = None) -> CellResult:
    """Fit one cell on the training data and score it on every test set.

    Parameters
    ----------
    spec : CellSpec
    report : callable, optional
        ``report(stage, step, total)`` progress events.

    Returns
    -------
    CellResult
        Rows (one per test set x metric x test image, or one ``failed`` row per
        failed stage), the JSON record and the reconstruction PNGs.
    """
    with warnings.catch_warnings():
        # The shared split is read-only (see _load_split_cached); torch warns when it
        # wraps such arrays, once per process, which says nothing to a user.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
        return _run_cell(spec, report)


def _fit_reference(spec: CellSpec, split) -> Any:
    """The fitted reference of a reference cell (harness code, run here; a method runs in its own process)."""
    return get_reference(spec.method)().fit(split.train, ground_truth_view(spec.data_root, spec.subject, spec.layout))


@dataclass
class _CellRun:
    """One cell in progress: what its stages read (spec, split, metrics, evaluation size, progress)
    and what they add to (rows, PNG files, errors by stage, record fields), in one place."""

    spec: CellSpec
    split: Split
    metric_specs: Mapping[str, Any]
    size: int
    report: Report
    #: The columns every row of the cell shares (the run-level part of :data:`COLUMNS`).
    columns: dict[str, Any]
    rows: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    #: Stage ("fit" or a test set) -> error text, and its traceback.
    errors: dict[str, str] = field(default_factory=dict)
    tracebacks: dict[str, str] = field(default_factory=dict)
    #: Fields of the cell record set by the stage that knows them (seal note, method output, stage log...).
    record: dict[str, Any] = field(default_factory=dict)
    #: Pinned weights the method process loaded (name -> sha256).
    method_weights: dict[str, str] = field(default_factory=dict)
    reconstruct_seconds: float = 0.0
    score_seconds: float = 0.0
    peak_memory_mb: float = float("nan")

    @property
    def test_sets(self) -> list[str]:
        return list(self.split.test_inputs)

    def fail(self, stage: str, error: str, traceback_text: str | None = None) -> None:
        """Record that ``stage`` failed with ``error`` (and its traceback, when there is one)."""
        self.errors[stage] = error
        if traceback_text is not None:
            self.tracebacks[stage] = traceback_text


def _score_into(cell: _CellRun, test_set: str, predictions: Any, prediction_ids: Any, *, checked: bool = False) -> None:
    """Check (unless ``checked``: a method process's reconstructions, checked as they arrived), align and
    score one test set's reconstructions into the cell's rows and files."""
    spec = cell.spec
    true_ids, true_images = cell.split.test_images[test_set]
    true_ids = np.asarray(true_ids).astype(str)
    start = time.perf_counter()
    try:
        evaluator = Evaluator(true_ids, true_images, cell.size, cell.metric_specs, device=spec.device)
        if checked:
            aligned = evaluator.align(predictions, prediction_ids, method=spec.method)
        else:
            aligned = evaluator.prepare(predictions, prediction_ids, method=spec.method)
    except ReconbenchError as exc:  # a malformed output is the method's failure
        cell.fail(test_set, _error_text(exc), traceback.format_exc())
        return
    scores = score(aligned, evaluator.true_images, cell.metric_specs, spec.device)
    cell.score_seconds += time.perf_counter() - start
    cell.rows.extend(_rows_for(spec, test_set, true_ids, scores, cell.metric_specs, cell.columns))
    thumbs = resize(aligned, min(THUMBNAIL_SIZE, cell.size))
    true_thumbs = resize(evaluator.true_images, min(THUMBNAIL_SIZE, cell.size))
    folder = reconstruction_dir(spec.dataset, spec.subject, test_set, spec.method, spec.param_set, spec.seed)
    true_folder = reconstruction_dir(spec.dataset, spec.subject, test_set, None)
    for k, stimulus_id in enumerate(true_ids):
        cell.files[str(folder / f"{stimulus_id}.png")] = png_bytes(thumbs[k])
        cell.files[str(true_folder / f"{stimulus_id}.png")] = png_bytes(true_thumbs[k])


def opaque_ids(test_set: str, n: int) -> np.ndarray:
    """The stimulus ids a method process sees for a test set of ``n`` rows: ``<test set>-<row>``
    (e.g. ``natural-0007``), in the split's order; they name no image."""
    return np.array([f"{test_set}-{k:04d}" for k in range(n)])


def _hidden_paths(spec: CellSpec) -> list[str]:
    """The data and stimulus folders, as given and resolved: kept out of the method process's environment."""
    hidden = [str(p) for p in (spec.data_root, spec.stimuli_dir) if p]
    return hidden + [str(Path(p).resolve()) for p in hidden]


def _run_method(cell: _CellRun) -> None:
    """A method or oracle cell: fit and reconstruct in a method process of its own
    (:mod:`reconbench.bench.sandbox`), which gets only ``TrainData`` and the
    ``TestInput`` of every test set; score here."""
    spec, split, test_sets = cell.spec, cell.split, cell.test_sets
    test_inputs = {}
    for test_set in test_sets:
        test_input = split.test_inputs[test_set]
        if spec.kind == "oracle":
            true_ids, true_images = split.test_images[test_set]
            order = _rows_in_order(true_ids, test_input.stimulus_ids)
            test_input = dataclasses.replace(test_input, oracle_images=np.asarray(true_images)[order])
        test_inputs[test_set] = test_input
    # The child imports only this method's module (not every method), which keeps its start short; the
    # harness does not look the method up again (the grid did, once: spec.method_source).
    request = {
        "method": spec.method,
        "methods_dir": spec.methods_dir,
        "params": dict(spec.params),
        "seed": int(spec.seed),
        "threads": int(spec.threads),
        "device": str(spec.device),
        "seal": bool(spec.seal),
        "module": str(spec.method_source["module"]),
        "class": str(spec.method_source["class"]),
        "file": str(spec.method_source["file"]),
        # The method process resizes its reconstructions to this size (inside the cell's limits).
        "size": int(cell.size),
    }
    cell.report("fit", 0, 1 + len(test_sets))
    # The method process sees opaque stimulus ids (test set and row position, in the split's order: the harness
    # scores by the real ones below), never ids that name the image (a shape, a colour, a letter, an ImageNet file).
    sent = {name: dataclasses.replace(test_input, stimulus_ids=opaque_ids(name, len(test_input.stimulus_ids))) for name, test_input in test_inputs.items()}
    outcome = run_method(request, split.train, sent, hidden=_hidden_paths(spec), timeout=spec.cell_timeout, memory_mb=spec.cell_memory_mb, report=cell.report)
    cell.peak_memory_mb = outcome.peak_memory_mb
    # What the harness knows, not what the method says: "" when the process never reached its seal (no method code ran).
    cell.columns["sealed"] = ("yes" if outcome.sealed else "no") if outcome.started else ""
    cell.record["seal_note"] = outcome.seal_note if outcome.started else "the method process ended before it was ready (no method code ran)"
    cell.record["stage_cache_notes"] = list(outcome.stage_cache_notes)
    if outcome.output_bytes:
        # The method's stdout and stderr (never the user's terminal), kept beside the cell record.
        path = f"cells/{spec.key}.output.txt"
        cell.files[path] = outcome.output
        cell.record["method_output"] = {"path": path, "bytes": outcome.output_bytes, "truncated": outcome.output_truncated}
    cell.record["stage_log"] = _json_safe(outcome.stage_log)
    cell.method_weights = dict(outcome.weights)
    cell.record["process"] = {"process_seconds": outcome.process_seconds, "startup_seconds": outcome.startup_seconds}
    cell.record["gpu_peak_memory_mb"] = outcome.gpu_peak_memory_mb
    cell.columns["fit_seconds"] = outcome.fit.seconds
    if outcome.fit.error:
        cell.fail("fit", outcome.fit.error, outcome.fit.traceback)
        return
    for test_set in test_sets:
        result = outcome.test_sets.get(test_set)
        if result is None:  # the method process gave no result for it (every test set keeps a row)
            cell.fail(test_set, "MethodProcessError: no reconstruction came back for this test set")
            continue
        cell.reconstruct_seconds += result.seconds
        if result.error:
            cell.fail(test_set, result.error, result.traceback)
            continue
        cell.report(f"score {test_set}", 1 + test_sets.index(test_set), 1 + len(test_sets))
        # Checked by run_method when they arrived (the method process checked the method's own output).
        _score_into(cell, test_set, result.predictions, test_inputs[test_set].stimulus_ids, checked=True)
        if test_set not in cell.errors:
            _diagnose_into(cell, test_set, result, outcome, test_inputs[test_set].stimulus_ids)


def _rows_in_order(true_ids: Any, ids: Any) -> list[int]:
    """Positions in ``true_ids`` of each of ``ids`` (the test images in a method's order)."""
    position = {str(sid): k for k, sid in enumerate(np.asarray(true_ids).astype(str))}
    return [position[str(s)] for s in np.asarray(ids).astype(str)]


def _diagnose_into(cell: _CellRun, test_set: str, result: Any, outcome: Any, prediction_ids: Any) -> None:
    """Stage-wise diagnostics of one test set into the record's ``stage_diagnostics`` (:mod:`reconbench.bench.diagnostics`):
    per stage output, the mean of each measure over the test images; the final image's means come from the cell's rows.
    A failure is recorded as text and never fails the cell."""
    if not result.stage_outputs and not result.stage_error:
        return
    true_ids, true_images = cell.split.test_images[test_set]
    entry: dict[str, Any] = {}
    try:
        if result.stage_error:
            raise ReconbenchError(f"stage_outputs: {result.stage_error}")
        if outcome.stage_spaces_error:
            raise ReconbenchError(f"stage_spaces: {outcome.stage_spaces_error}")
        order = _rows_in_order(true_ids, prediction_ids)
        measures = stage_diagnostics(result.stage_outputs, outcome.stage_spaces, np.asarray(true_images)[order], cell.metric_specs, cell.size)
        entry = {name: {measure: float(np.mean(values)) for measure, values in by_measure.items()} for name, by_measure in measures.items()}
        entry["n_images"] = len(order)
    except Exception as exc:  # noqa: BLE001 - a diagnostic's failure is recorded, never fatal
        entry = {"error": _error_text(exc)}
    scored = pd.DataFrame([row for row in cell.rows if row["test_set"] == test_set], columns=["metric", "value"])
    entry["final"] = {metric: float(value) for metric, value in scored.groupby("metric")["value"].mean().items()}
    cell.record.setdefault("stage_diagnostics", {})[test_set] = entry


def _run_reference(cell: _CellRun) -> None:
    """A reference cell (harness code, :mod:`reconbench.references`): run in this process
    with the ground truth."""
    spec, split, test_sets = cell.spec, cell.split, cell.test_sets
    n_stages = 1 + len(test_sets)
    cell.report("fit", 0, n_stages)
    start = time.perf_counter()
    try:
        method = _fit_reference(spec, split)
    except Exception as exc:  # noqa: BLE001 - a reference's failure is a result, not a crash
        cell.fail("fit", _error_text(exc), traceback.format_exc())
        method = None
    cell.columns["fit_seconds"] = time.perf_counter() - start
    for stage, test_set in enumerate(test_sets, start=1):
        if method is None:
            break
        test_input = split.test_inputs[test_set]
        try:
            direct = method.direct_scores(test_input, list(cell.metric_specs))
        except Exception as exc:  # noqa: BLE001 - a failed reference row is a result, not a crash
            cell.fail(test_set, _error_text(exc), traceback.format_exc())
            continue
        if direct is not None:  # scores without images (e.g. the noise ceiling)
            cell.rows.extend(_rows_for(spec, test_set, np.asarray(test_input.stimulus_ids).astype(str), direct, cell.metric_specs, cell.columns))
            continue
        cell.report(f"reconstruct {test_set}", stage, n_stages)
        start = time.perf_counter()
        try:
            predictions = method.reconstruct(test_input)
        except Exception as exc:  # noqa: BLE001
            cell.fail(test_set, _error_text(exc), traceback.format_exc())
            cell.reconstruct_seconds += time.perf_counter() - start
            continue
        cell.reconstruct_seconds += time.perf_counter() - start
        if predictions is None:
            continue  # the reference has no row for this test set (e.g. no categories for shapes)
        cell.report(f"score {test_set}", stage, n_stages)
        _score_into(cell, test_set, predictions, test_input.stimulus_ids)
    # A reference may expose ``stage_log_`` (JSON-able dicts: per-stage times, cache hits), complete after the test sets.
    cell.record["stage_log"] = _json_safe(getattr(method, "stage_log_", None))


def _run_cell(spec: CellSpec, report: Report | None) -> CellResult:
    cell_start = time.perf_counter()
    limit_threads(spec.threads)
    report = report or (lambda stage, step=0, total=0: None)
    if spec.kind != "reference":
        prestart(_hidden_paths(spec))  # the method-process server imports torch while the data load
    report("loading data", 0, 0)
    split = _load_split_cached(spec.data_root, spec.subject, spec.stimuli_dir, spec.layout)
    native = int(next(iter(split.test_images.values()))[1].shape[-1])
    columns = {
        "dataset": spec.dataset,
        "subject": spec.subject,
        "method": spec.method,
        "param_set": spec.param_set,
        "params_hash": spec.params_hash,
        "seed": int(spec.seed),
        "kind": spec.kind,
        "cell_key": spec.key,
        "config_hash": spec.config_hash,
        "params": json.dumps(dict(spec.params), sort_keys=True, default=repr),
        "code_version": code_version(),
        "package_versions": package_versions(),
        "fit_seconds": float("nan"),
        "reconstruct_seconds": float("nan"),
        "score_seconds": float("nan"),
        "peak_memory_mb": float("nan"),
        "threads": int(spec.threads),
        "weights": "",
        "sealed": "",
        **device_info(spec.device),
    }
    cell = _CellRun(spec, split, default_metrics(spec.metrics), evaluation_size(spec.dataset, native), report, columns)
    forget_loaded_hashes()

    if spec.kind == "reference":
        with PeakMemory() as memory:
            _run_reference(cell)
        cell.peak_memory_mb = memory.peak_mb
    else:
        # The held-out images' network features are kept for this worker's later cells (and the
        # stage diagnostics' second scoring); the method's own process keeps nothing.
        with reusing_features():
            _run_method(cell)
    n_stages = 1 + len(cell.test_sets)
    report("done", n_stages, n_stages)
    columns["reconstruct_seconds"] = cell.reconstruct_seconds
    columns["score_seconds"] = cell.score_seconds
    columns["peak_memory_mb"] = cell.peak_memory_mb
    # Pinned weights loaded to make and score the rows: here (metrics, references) and in the method process.
    columns["weights"] = json.dumps(loaded_hashes() | cell.method_weights, sort_keys=True)
    rows = cell.rows
    for row in rows:
        row.update({k: columns[k] for k in ("reconstruct_seconds", "score_seconds", "peak_memory_mb", "fit_seconds", "weights", "sealed")})
    for stage, error in cell.errors.items():
        rows.append(_failed_row("" if stage == "fit" else stage, error, columns))

    process = cell.record.get("process") or {}
    record = {
        "key": spec.key,
        "status": "failed" if cell.errors else "ok",
        "errors": cell.errors,
        "tracebacks": cell.tracebacks,
        "spec": {k: v for k, v in dataclasses.asdict(spec).items() if k != "method_source"} | {"params": dict(spec.params)},
        "config_hash": spec.config_hash,
        "evaluation_size": cell.size,
        "threads": int(spec.threads),
        "device": columns["device"],
        # Peak GPU memory of the method process (torch.cuda.max_memory_allocated, MB); None on the CPU.
        # --cell-memory bounds resident (host) memory only.
        "gpu_peak_memory_mb": cell.record.get("gpu_peak_memory_mb"),
        "weights": columns["weights"],
        **{k: columns[k] for k in ("fit_seconds", "reconstruct_seconds", "score_seconds", "peak_memory_mb", "code_version")},
        # A method may expose ``stage_log_`` (a list of JSON-able dicts: per-stage times, cache hits, memory).
        "stage_log": cell.record.get("stage_log"),
        "sealed": columns["sealed"],
        "seal_note": cell.record.get("seal_note", ""),
        # The method process's stdout and stderr: {"path" (in the results folder), "bytes" written,
        # "truncated"}; None when it wrote nothing (or for reference cells, which print nothing of a plugin's).
        "method_output": cell.record.get("method_output"),
        # Stage-cache entries the method process handed over that the harness did not write (plugins': never).
        **({"stage_cache_notes": notes} if (notes := cell.record.get("stage_cache_notes")) else {}),
        # Methods with stage outputs (reconbench.bench.diagnostics): {test set: {output: {measure: mean}, "final": {...}}}.
        "stage_diagnostics": cell.record.get("stage_diagnostics"),
        # Where the cell's wall time went (seconds), to measure the cost of process isolation:
        # method_process_seconds - fit_seconds - reconstruct_seconds is the isolation overhead
        # (start-up, sealing, job transfer, replies); cell_seconds also holds data loading and scoring.
        # (None for reference cells, which run in this process.)
        "method_process_seconds": process.get("process_seconds"),
        "method_startup_seconds": process.get("startup_seconds"),
        "isolation_overhead_seconds": (process["process_seconds"] - _finite(columns["fit_seconds"]) - cell.reconstruct_seconds if process else None),
        "cell_seconds": time.perf_counter() - cell_start,
    }
    frame = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame({c: [] for c in COLUMNS})
    return CellResult(rows=frame, record=record, files=cell.files)
