"""The runner: the grid method x parameter set x subject x seed, resumable.

Each *cell* of the grid is fit once on ``split.train`` and then scored on every
test set of the split by the :class:`~reconbench.bench.evaluate.Evaluator`.
A cell is described by a small picklable :class:`CellSpec` and run by the
module-level :func:`run_cell`, wherever the executor puts it (this process,
local worker processes, a Dask worker). The parent process alone writes the
:class:`~reconbench.bench.results.ResultStore`, so workers never race on files.

What a method sees: ``split.train`` and, per test set, a ``TestInput`` (fMRI
and stimulus ids). Methods that declare ``is_oracle = True`` also get the true
test images in ``TestInput.oracle_images`` (their rows are marked ``oracle``).

Seeds: a cell's seed is passed to the method as its ``seed`` (or
``random_state``) keyword when ``__init__`` has one; otherwise the method is
taken to be deterministic and the seed is only recorded. The params hash is
computed from the parameter set without the seed.

Failures: an exception raised by a method's ``fit`` fails the whole cell; one
raised by ``reconstruct`` or found by the evaluator (wrong shape, range or
ids) fails that test set. Either way the error is recorded in the result rows
(``status = "failed"``, ``error``) and in ``cells/<key>.json`` with the
traceback, and the run goes on. Failed cells are not retried on a rerun unless
``retry_failed=True``; ``force=True`` reruns every cell.

Reference rows (``kind = "reference"``), computed by the harness and never
ranked:

- ``category-only``: when the dataset folder holds simulator ground truth
  (``ground_truth/stimuli.tsv`` with each stimulus's category), every test
  image whose category also occurs in training is "reconstructed" as the mean
  training image of its true category, and scored like a method. It is what
  perfect category knowledge, and nothing else, scores on each metric.
- ``noise-ceiling`` (pairwise identification only): when the ground truth
  holds the noise-free responses (``ground_truth/<subject>_noise_free.npz``),
  an ideal observer that knows the true encoding model identifies each test
  stimulus from its measured, repetition-averaged VC response: the fraction of
  other test stimuli whose noise-free response correlates less with the
  measured response than the true stimulus's own noise-free response does
  (Pearson r across voxels, each voxel standardised over the test set, since
  the measured responses are z-scored within run). It is the pairwise
  identification convention applied in voxel space: how much of the stimulus
  identity survives the measurement noise. A reconstruction is made from the
  same noisy responses, so it is a reference for the image-space score, not a
  proven bound on it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from reconbench.bench.dataset import TEST_SET_SESSIONS
from reconbench.bench.errors import ReconbenchError
from reconbench.bench.evaluate import Evaluator, default_metrics, evaluation_size, score
from reconbench.bench.images import resize
from reconbench.bench.method import Method, params_hash
from reconbench.bench.results import (
    COLUMNS,
    ResultStore,
    cell_key,
    code_version,
    package_versions,
    png_bytes,
    reconstruction_dir,
    stable_hash,
)

#: Side (pixels) of the reconstruction PNGs saved for the leaderboard grid.
THUMBNAIL_SIZE = 64
#: Keyword names through which a method receives the cell's seed.
SEED_KEYWORDS = ("seed", "random_state")
#: Names of the reference rows computed by the harness.
CATEGORY_ONLY = "category-only"
NOISE_CEILING = "noise-ceiling"
#: The metric the noise ceiling is reported for.
NOISE_CEILING_METRIC = "pairwise_identification"

Report = Callable[..., None]


# ---------------------------------------------------------------------------
# Datasets


def parse_dataset(dataset: str) -> tuple[str, str | None]:
    """Split a dataset name into its kind and preset.

    ``"ds001506"`` -> ``("ds001506", None)``; ``"simulated:default"`` ->
    ``("simulated", "default")``.
    """
    if dataset == "ds001506":
        return "ds001506", None
    if dataset.startswith("simulated:") and dataset.split(":", 1)[1]:
        return "simulated", dataset.split(":", 1)[1]
    raise ReconbenchError(f"unknown dataset {dataset!r}; expected 'ds001506' or 'simulated:<preset>' (tiny, default, full)")


def data_fingerprint(root: str | Path, subject: str) -> str:
    """A cheap fingerprint of one subject's data: session file names and sizes,
    stimulus tables and the simulator's description. Changing the data changes
    the config hash, so stale cells are rerun."""
    from reconbench.bench.dataset import SESSIONS, default_image_size, session_file

    root = Path(root)
    # The image size the loader uses decides the evaluation resolution of simulated:tiny.
    parts: dict[str, Any] = {"image_size": default_image_size(root)}
    for session in SESSIONS:
        path = session_file(root, subject, session, required=False)
        if path is not None:
            parts[path.name] = path.stat().st_size
    for path in sorted(root.glob("stimulus_*.tsv")) + sorted(root.glob("ground_truth/simulation.json")):
        parts[str(path.relative_to(root))] = stable_hash(path.read_text(encoding="utf-8", errors="replace"))
    if len(parts) == 1:
        raise ReconbenchError(f"no data files for subject {subject} in {root}")
    return stable_hash(parts)


def simulated_preset(root: str | Path) -> str | None:
    """The preset a simulated data folder was made with (``ground_truth/simulation.json``), or None."""
    info = Path(root) / "ground_truth" / "simulation.json"
    if not info.is_file():
        return None
    try:
        config = json.loads(info.read_text(encoding="utf-8"))
        preset = str(config["preset"])
    except (OSError, ValueError, KeyError) as exc:
        raise ReconbenchError(f"cannot read the preset from {info}: {exc}") from exc
    from reconbench.bench.simulate import FORMAT_VERSION

    if config.get("format_version") != FORMAT_VERSION:
        raise ReconbenchError(
            f"{root} was simulated by another reconbench version (format {config.get('format_version')!r}; this version "
            f"writes {FORMAT_VERSION!r}); simulate it again: reconbench simulate --preset {preset} --out {root} --force"
        )
    return preset


def check_dataset_matches(dataset: str, root: str | Path) -> None:
    """Refuse a ``--dataset`` name that contradicts the data folder (it fixes the
    evaluation resolution, so a wrong name would score at the wrong size)."""
    kind, preset = parse_dataset(dataset)
    found = simulated_preset(root)
    if kind == "simulated" and found is not None and found != preset:
        raise ReconbenchError(f"--dataset {dataset} but {root} was simulated with preset {found!r}; use --dataset simulated:{found}")
    if kind == "ds001506" and found is not None:
        raise ReconbenchError(f"--dataset ds001506 but {root} is a simulated dataset (preset {found!r}); use --dataset simulated:{found}")


def _freeze(array: Any) -> Any:
    if isinstance(array, np.ndarray):
        array.flags.writeable = False
    return array


def method_code_hash(cls: type) -> str:
    """A hash of the source a method runs: its module file and the private
    helper modules (``_*.py``) beside it (e.g. ``baselines/_ridge.py``).

    It is part of each cell's config hash, so a rerun redoes the cells of a
    method whose code changed instead of keeping stale scores. Changes to the
    harness or the metric code are not tracked here (metric recipes are).
    """
    path = Path(inspect.getsourcefile(cls) or "")
    if not path.is_file():
        return ""
    files = [path] + sorted(p for p in path.parent.glob("_*.py") if p.name != "__init__.py" and p != path)
    return stable_hash({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files})


@functools.lru_cache(maxsize=2)
def _load_split_cached(root: str, subject: str, stimuli_dir: str | None):
    """Load a split once per worker process. Its arrays are made read-only:
    cells share the split in a process, so a method that changed its inputs in
    place would change the next cell's data (and make a serial run differ from
    a parallel one); with read-only arrays it fails loudly instead."""
    from reconbench.bench.splits import load_split

    split = load_split(root, subject, stimuli_dir=stimuli_dir, progress=False)
    train = split.train
    for array in (train.images, train.stimulus_ids, train.trial_image_index, train.runs, train.validation_mask, *train.fmri.values()):
        _freeze(array)
    for test_input in split.test_inputs.values():
        _freeze(test_input.stimulus_ids)
        for array in test_input.fmri.values():
            _freeze(array)
    for ids, images in split.test_images.values():
        _freeze(ids)
        _freeze(images)
    return split


def load_categories(root: str | Path) -> dict[str, str] | None:
    """Category of every stimulus from the simulator's ground truth, or None.

    Reads ``<root>/ground_truth/stimuli.tsv`` (written by
    :func:`reconbench.bench.simulate.simulate`; a header row with ``name``, the
    image file stem that the split uses as stimulus id, and ``category``,
    0-based, -1 for stimuli without a category such as shapes and letters).
    Real data has no such file.
    """
    path = Path(root) / "ground_truth" / "stimuli.tsv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "name" not in table.columns or "category" not in table.columns:
        raise ReconbenchError(f"{path}: expected columns 'name' and 'category', found {', '.join(table.columns)}")
    return {name: cat for name, cat in zip(table["name"], table["category"]) if cat not in ("", "-1")}


# ---------------------------------------------------------------------------
# Cells


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

    @property
    def key(self) -> str:
        return cell_key(self.method, self.params_hash, self.dataset, self.subject, self.seed)

    @property
    def label(self) -> str:
        return f"{self.method}[{self.param_set}] {self.subject} seed {self.seed}"


@dataclass
class CellResult:
    """What a worker returns: result rows, the cell record and PNG files by relative path."""

    rows: pd.DataFrame
    record: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def _json_safe(value: Any) -> Any:
    """``value`` if it survives a JSON round trip, else its ``repr`` (a method's log must not break a cell)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


class PeakMemory:
    """Peak resident memory (MB) of this process while the block runs, sampled
    every ``interval`` seconds by a background thread (psutil)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_mb = float("nan")
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while True:
            self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
            if self._stop.wait(self.interval):
                break

    def __enter__(self) -> "PeakMemory":
        import psutil

        self.peak_mb = psutil.Process().memory_info().rss / 2**20
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


class CategoryOnly:
    """The category-only reference: the mean training image of each test
    stimulus's true category (from the simulator ground truth)."""

    def __init__(self, categories: Mapping[str, str]):
        self.categories = dict(categories)

    def fit(self, train) -> "CategoryOnly":
        labels = np.array([self.categories.get(str(s), "") for s in train.stimulus_ids])
        self.means_ = {
            cat: train.images[labels == cat].mean(axis=0).astype(np.float32) for cat in np.unique(labels) if cat
        }
        return self

    def covers(self, stimulus_ids: Sequence[str]) -> bool:
        """True if every id has a category seen in training."""
        return all(self.categories.get(str(s)) in self.means_ for s in stimulus_ids)

    def reconstruct(self, test) -> np.ndarray:
        return np.stack([self.means_[self.categories[str(s)]] for s in test.stimulus_ids])


def noise_free_path(root: str | Path, subject: str) -> Path:
    """Where the simulator keeps a subject's noise-free responses."""
    return Path(root) / "ground_truth" / f"{subject}_noise_free.npz"


def noise_ceiling(test_input, noise_free: np.ndarray, noise_free_ids: Sequence[str]) -> np.ndarray:
    """Ideal-observer pairwise identification in voxel space (see the module docstring).

    Parameters
    ----------
    test_input : TestInput
        Its ``fmri["VC"]``, shape (M, V), measured and repetition-averaged.
    noise_free : ndarray, shape (M', V)
        Noise-free responses of the same voxels (file column order), M' >= M.
    noise_free_ids : sequence of str, shape (M',)
        Stimulus of each row of ``noise_free``.

    Returns
    -------
    ndarray, shape (M,)
        Per test stimulus (in ``test_input.stimulus_ids`` order), the fraction
        of the other M - 1 stimuli j with r(x_i, m_j) < r(x_i, m_i).
    """
    measured = np.asarray(test_input.fmri["VC"], dtype=np.float64)
    row = {str(sid): k for k, sid in enumerate(noise_free_ids)}
    missing = [str(s) for s in test_input.stimulus_ids if str(s) not in row]
    if missing:
        raise ReconbenchError(f"noise-free responses lack stimulus id(s) {', '.join(missing[:5])}")
    model = np.asarray(noise_free, dtype=np.float64)[[row[str(s)] for s in test_input.stimulus_ids]]
    if model.shape != measured.shape:
        raise ReconbenchError(f"noise-free responses have shape {model.shape}, measured VC responses {measured.shape}")

    def standardise(x: np.ndarray) -> np.ndarray:
        x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-12)  # per voxel, over stimuli
        x = x - x.mean(axis=1, keepdims=True)  # per pattern, for Pearson r across voxels
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    similarity = standardise(measured) @ standardise(model).T  # (M, M), r(x_i, m_j)
    own = np.diag(similarity)
    return (similarity < own[:, None]).sum(axis=1) / (len(own) - 1)


def _method_kwargs(cls: type[Method], params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    kwargs = dict(params)
    signature = inspect.signature(cls.__init__).parameters
    for keyword in SEED_KEYWORDS:
        if keyword in signature:
            kwargs[keyword] = int(seed)
            break
    return kwargs


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _rows_for(spec: CellSpec, test_set: str, ids: Sequence[str], scores: Mapping[str, np.ndarray], metric_specs: Mapping[str, Any], run: Mapping[str, Any]) -> list[dict]:
    rows = []
    for metric, values in scores.items():
        meta = metric_specs[metric]
        chance = getattr(meta, "chance", None)
        for stimulus_id, value in zip(ids, values):
            rows.append({
                "metric": metric, "stimulus_id": str(stimulus_id), "value": float(value),
                "higher_is_better": bool(meta.higher_is_better),
                "chance": float("nan") if chance is None else float(chance),
                "test_set": test_set, "status": "ok", "error": "", **run,
            })
    return rows


def _failed_row(test_set: str, error: str, run: Mapping[str, Any]) -> dict:
    return {
        "metric": "", "stimulus_id": "", "value": float("nan"), "higher_is_better": pd.NA, "chance": float("nan"),
        "test_set": test_set, "status": "failed", "error": error, **run,
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


def _run_cell(spec: CellSpec, report: Report | None) -> CellResult:
    from reconbench.bench.executors import limit_threads

    limit_threads(spec.threads)
    report = report or (lambda stage, step=0, total=0: None)
    report("loading data", 0, 0)
    split = _load_split_cached(spec.data_root, spec.subject, spec.stimuli_dir)
    metric_specs = default_metrics(spec.metrics)
    native = int(next(iter(split.test_images.values()))[1].shape[-1])
    size = evaluation_size(spec.dataset, native)

    run = {
        "dataset": spec.dataset, "subject": spec.subject, "method": spec.method, "param_set": spec.param_set,
        "params_hash": spec.params_hash, "seed": int(spec.seed), "kind": spec.kind, "cell_key": spec.key,
        "config_hash": spec.config_hash, "params": json.dumps(dict(spec.params), sort_keys=True, default=repr),
        "code_version": code_version(), "package_versions": package_versions(),
        "fit_seconds": float("nan"), "reconstruct_seconds": float("nan"), "score_seconds": float("nan"),
        "peak_memory_mb": float("nan"),
    }
    rows: list[dict] = []
    files: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    tracebacks: dict[str, str] = {}
    test_sets = list(split.test_inputs)
    n_stages = 1 + len(test_sets)

    with PeakMemory() as memory:
        method: Any = None
        report("fit", 0, n_stages)
        start = time.perf_counter()
        try:
            if spec.method == NOISE_CEILING:
                method = None
                noise_free = np.load(noise_free_path(spec.data_root, spec.subject), allow_pickle=False)
                for test_set in test_sets:
                    session = TEST_SET_SESSIONS[test_set]
                    if session not in noise_free.files or NOISE_CEILING_METRIC not in metric_specs:
                        continue
                    test_input = split.test_inputs[test_set]
                    values = noise_ceiling(test_input, noise_free[session], noise_free[f"{session}/stimulus_names"])
                    ceiling = {NOISE_CEILING_METRIC: values}
                    rows.extend(_rows_for(spec, test_set, np.asarray(test_input.stimulus_ids).astype(str), ceiling, metric_specs, run))
            elif spec.kind == "reference":
                categories = load_categories(spec.data_root)
                if categories is None:
                    raise ReconbenchError(f"{spec.data_root} has no ground_truth/stimuli.tsv")
                method = CategoryOnly(categories).fit(split.train)
            else:
                from reconbench.bench.registry import get_method

                cls = get_method(spec.method, spec.methods_dir)
                method = cls(**_method_kwargs(cls, spec.params, spec.seed))
                fitted = method.fit(split.train)
                if fitted is not None:
                    method = fitted
        except Exception as exc:  # noqa: BLE001 - a method's failure is a result, not a crash
            errors["fit"] = _error_text(exc)
            tracebacks["fit"] = traceback.format_exc()
            method = None
        run["fit_seconds"] = time.perf_counter() - start

        reconstruct_seconds = score_seconds = 0.0
        for stage, test_set in enumerate(test_sets, start=1):
            if method is None:
                break
            test_input = split.test_inputs[test_set]
            true_ids, true_images = split.test_images[test_set]
            true_ids = np.asarray(true_ids).astype(str)
            if spec.kind == "reference" and not method.covers(test_input.stimulus_ids):
                continue  # no category for this test set (e.g. shapes, letters): no reference rows
            if spec.kind == "oracle":
                position = {sid: k for k, sid in enumerate(true_ids)}
                order = [position[str(s)] for s in test_input.stimulus_ids]
                test_input = dataclasses.replace(test_input, oracle_images=np.asarray(true_images)[order])
            report(f"reconstruct {test_set}", stage, n_stages)
            start = time.perf_counter()
            try:
                predictions = method.reconstruct(test_input)
            except Exception as exc:  # noqa: BLE001
                errors[test_set] = _error_text(exc)
                tracebacks[test_set] = traceback.format_exc()
                reconstruct_seconds += time.perf_counter() - start
                continue
            reconstruct_seconds += time.perf_counter() - start
            report(f"score {test_set}", stage, n_stages)
            start = time.perf_counter()
            try:
                evaluator = Evaluator(true_ids, true_images, size, metric_specs)
                aligned = evaluator.prepare(predictions, test_input.stimulus_ids, method=spec.method)
            except ReconbenchError as exc:  # a malformed output is the method's failure
                errors[test_set] = _error_text(exc)
                tracebacks[test_set] = traceback.format_exc()
                continue
            scores = score(aligned, evaluator.true_images, metric_specs)
            score_seconds += time.perf_counter() - start
            rows.extend(_rows_for(spec, test_set, true_ids, scores, metric_specs, run))
            thumbs = resize(aligned, min(THUMBNAIL_SIZE, size))
            true_thumbs = resize(evaluator.true_images, min(THUMBNAIL_SIZE, size))
            folder = reconstruction_dir(spec.dataset, spec.subject, test_set, spec.method, spec.param_set, spec.seed)
            true_folder = reconstruction_dir(spec.dataset, spec.subject, test_set, None)
            for k, stimulus_id in enumerate(true_ids):
                files[str(folder / f"{stimulus_id}.png")] = png_bytes(thumbs[k])
                files[str(true_folder / f"{stimulus_id}.png")] = png_bytes(true_thumbs[k])
        report("done", n_stages, n_stages)

    run["reconstruct_seconds"] = reconstruct_seconds
    run["score_seconds"] = score_seconds
    run["peak_memory_mb"] = memory.peak_mb
    for row in rows:
        row.update({k: run[k] for k in ("reconstruct_seconds", "score_seconds", "peak_memory_mb", "fit_seconds")})
    for stage, error in errors.items():
        rows.append(_failed_row("" if stage == "fit" else stage, error, run))

    status = "failed" if errors else "ok"
    record = {
        "key": spec.key, "status": status, "errors": errors, "tracebacks": tracebacks,
        "spec": dataclasses.asdict(spec) | {"params": dict(spec.params)},
        "config_hash": spec.config_hash, "evaluation_size": size,
        **{k: run[k] for k in ("fit_seconds", "reconstruct_seconds", "score_seconds", "peak_memory_mb", "code_version")},
        # A method may expose ``stage_log_`` (a list of JSON-able dicts: per-stage times, cache hits, memory).
        "stage_log": _json_safe(getattr(method, "stage_log_", None)),
    }
    frame = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame({c: [] for c in COLUMNS})
    return CellResult(rows=frame, record=record, files=files)


# ---------------------------------------------------------------------------
# The grid


def parse_method_selection(selection: Sequence[str] | None, available: Mapping[str, type[Method]]) -> list[tuple[str, str | None]]:
    """Turn ``["a", "b:fast"]`` into ``[("a", None), ("b", "fast")]`` (None: every parameter set).

    ``None`` or an empty selection picks every available method.
    """
    if not selection:
        return [(name, None) for name in available]
    chosen = []
    for item in selection:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            name, _, param_set = part.partition(":")
            if name not in available:
                raise ReconbenchError(f"unknown method {name!r}; available: {', '.join(available) or 'none'}")
            if param_set and param_set not in available[name].parameter_sets:
                raise ReconbenchError(
                    f"method {name} has no parameter set {param_set!r}; available: {', '.join(available[name].parameter_sets)}"
                )
            chosen.append((name, param_set or None))
    return chosen


def build_cells(
    dataset: str,
    data: str | Path,
    subjects: Sequence[str],
    methods: Mapping[str, type[Method]],
    selection: Sequence[tuple[str, str | None]],
    seeds: Sequence[int],
    metric_names: Sequence[str],
    metric_recipes: Mapping[str, str],
    *,
    stimuli_dir: str | Path | None = None,
    methods_dir: str | Path | None = None,
    references: bool = True,
    threads: int = 1,
) -> list[CellSpec]:
    """The grid: one :class:`CellSpec` per method x parameter set x subject x seed
    (plus the category-only and noise-ceiling reference cells per subject
    when the simulator's ground truth is there)."""
    data = str(Path(data).resolve())
    has_categories = references and (Path(data) / "ground_truth" / "stimuli.tsv").is_file()
    cells = []
    for subject in subjects:
        config_hash = stable_hash({
            "dataset": dataset, "data": data_fingerprint(data, subject),
            "metrics": {m: metric_recipes.get(m, "") for m in metric_names},
        })
        common = dict(
            dataset=dataset, subject=subject, data_root=data,
            stimuli_dir=None if stimuli_dir is None else str(Path(stimuli_dir).resolve()),
            methods_dir=None if methods_dir is None else str(Path(methods_dir).resolve()),
            metrics=tuple(metric_names), config_hash=config_hash, threads=int(threads),
        )
        for name, only_set in selection:
            cls = methods[name]
            method_config = stable_hash({"config": config_hash, "code": method_code_hash(cls)})
            for param_set, params in cls.parameter_sets.items():
                if only_set is not None and param_set != only_set:
                    continue
                kind = "oracle" if getattr(cls, "is_oracle", False) else "method"
                for seed in seeds:
                    cells.append(CellSpec(
                        method=name, param_set=param_set, params=dict(params), params_hash=params_hash(name, params),
                        kind=kind, seed=int(seed), **(common | {"config_hash": method_config}),
                    ))
        if has_categories:
            cells.append(CellSpec(
                method=CATEGORY_ONLY, param_set="default", params={}, params_hash=params_hash(CATEGORY_ONLY, {}),
                kind="reference", seed=0, **common,
            ))
        if references and NOISE_CEILING_METRIC in metric_names and noise_free_path(data, subject).is_file():
            cells.append(CellSpec(
                method=NOISE_CEILING, param_set="default", params={}, params_hash=params_hash(NOISE_CEILING, {}),
                kind="reference", seed=0, **common,
            ))
    return cells


def preflight_metrics(metric_specs: Mapping[str, Any]) -> None:
    """Run every metric once on two small random images, so a metric that cannot
    run (e.g. missing weights) stops the run before any method is fitted."""
    rng = np.random.default_rng(0)
    pred = rng.random((2, 3, 32, 32), dtype=np.float32)
    true = rng.random((2, 3, 32, 32), dtype=np.float32)
    score(pred, true, metric_specs)


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


def _progress_display(enabled: bool):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    )


def run_benchmark(
    dataset: str,
    data: str | Path,
    out: str | Path,
    *,
    subjects: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    metrics: Sequence[str] | None = None,
    methods_dir: str | Path | None = None,
    stimuli_dir: str | Path | None = None,
    jobs: int = 1,
    scheduler: Any = None,
    threads: int | None = None,
    force: bool = False,
    retry_failed: bool = False,
    references: bool = True,
    leaderboard: bool = True,
    progress: bool = False,
) -> RunSummary:
    """Run the grid and write results (and, by default, the leaderboard) into ``out``.

    Parameters
    ----------
    dataset : str
        ``"ds001506"`` or ``"simulated:<preset>"``; fixes the evaluation resolution.
    data : path
        The dataset folder.
    out : path
        The results folder (see :mod:`reconbench.bench.results`).
    subjects : list of str, optional
        Default: every subject in ``data``.
    methods : list of str, optional
        Method names, or ``name:param_set``; default: every discovered method.
    seeds : list of int
    metrics : list of str, optional
        Metric names; default: every registry metric.
    methods_dir : path, optional
        A folder of extra one-file methods.
    jobs : int
        Local worker processes.
    scheduler : str or distributed.Client, optional
        Run the cells on this Dask cluster.
    threads : int, optional
        torch/BLAS threads per cell; default ``cpu_count // jobs`` (at least 1).
        Rows are bitwise identical across executors for the same value; other
        values change float rounding only (about 1e-5 seen on ``tiny``).
    force : bool
        Rerun finished cells.
    retry_failed : bool
        Rerun cells that failed before.
    references : bool
        Add the category-only reference cells where ground truth exists.
    leaderboard : bool
        Write ``out/leaderboard`` at the end.
    progress : bool
        Show rich progress bars (cells and stages).

    Returns
    -------
    RunSummary
    """
    from reconbench.bench.dataset import list_subjects
    from reconbench.bench.executors import execute
    from reconbench.bench.registry import discover_methods

    started = time.perf_counter()
    data = Path(data)
    if not data.is_dir():
        raise ReconbenchError(f"data folder {data} does not exist; pass --data or run 'reconbench simulate'")
    check_dataset_matches(dataset, data)
    available = discover_methods(methods_dir)
    selection = parse_method_selection(methods, available)
    all_subjects = list_subjects(data)
    if subjects:
        unknown = [s for s in subjects if s not in all_subjects]
        if unknown:
            raise ReconbenchError(f"subject(s) {', '.join(unknown)} not in {data}; available: {', '.join(all_subjects)}")
        subjects = list(subjects)
    else:
        subjects = all_subjects
    if not subjects:
        raise ReconbenchError(f"no subjects found in {data}")
    metric_specs = default_metrics(metrics)
    preflight_metrics(metric_specs)
    recipes = {name: str(getattr(spec, "recipe", "")) for name, spec in metric_specs.items()}

    cells = build_cells(
        dataset, data, subjects, available, selection, seeds, list(metric_specs), recipes,
        stimuli_dir=stimuli_dir, methods_dir=methods_dir, references=references,
        threads=threads if threads is not None else max(1, (os.cpu_count() or 1) // max(1, jobs)),
    )
    store = ResultStore(out)
    todo = [c for c in cells if force or not store.finished(c.key, c.config_hash, retry_failed=retry_failed)]
    n_failed = 0
    failures: list[tuple[str, str]] = []

    with _progress_display(progress) as bar:
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

        events = on_event if (bar is not None and scheduler is None) else None
        for spec, result in execute(run_cell, todo, jobs=jobs, scheduler=scheduler, on_event=events):
            store.write_cell(spec.key, result.rows, result.record, result.files)
            if result.record["status"] != "ok":
                n_failed += 1
                failures.append((spec.label, "; ".join(f"{k}: {v}" for k, v in result.record["errors"].items())))
            if bar is not None:
                bar.advance(overall)

    # Every stored cell, not only this grid's: a results folder accumulates runs
    # (e.g. a user's method added to the committed reference later).
    rows = store.consolidate()
    leaderboard_dir = None
    if leaderboard:
        from reconbench.leaderboard import write_leaderboard

        leaderboard_dir = write_leaderboard(out, Path(out) / "leaderboard", rows=rows)
    return RunSummary(
        out=Path(out), n_cells=len(cells), n_run=len(todo), n_skipped=len(cells) - len(todo), n_failed=n_failed,
        failures=failures, n_failed_total=int(rows.loc[rows["status"] == "failed", "cell_key"].nunique()), seconds=time.perf_counter() - started, rows=rows, leaderboard_dir=leaderboard_dir,
    )


def print_summary(summary: RunSummary) -> None:
    """Print a short run summary with rich."""
    from rich.console import Console

    console = Console(stderr=True)
    console.print(
        f"[bold]{summary.n_cells}[/] cells: {summary.n_run} run, {summary.n_skipped} already done (skipped), "
        f"{summary.n_failed} failed, in {summary.seconds:.1f} s"
    )
    for label, error in summary.failures:
        console.print(f"  [red]failed[/] {label}: {error}")
    earlier = summary.n_failed_total - summary.n_failed
    if earlier > 0:
        console.print(f"  {earlier} cell(s) failed in an earlier run and were not retried (--retry-failed reruns them)")
    console.print(f"results: {summary.out / 'results.parquet'} (and results.csv)")
    if summary.leaderboard_dir is not None:
        console.print(f"leaderboard: {summary.leaderboard_dir / 'leaderboard.md'}, "
                      f"{summary.leaderboard_dir / 'leaderboard.html'}, {summary.leaderboard_dir / 'leaderboard.csv'}")


# ---------------------------------------------------------------------------
# The main job and the listing

#: Subjects ``reconbench bench`` runs per preset (None: every subject of the preset).
#: ``default`` runs sub-01 only: every parameter set of the divide-and-conquer
#: family trains a generator, and three subjects would triple a run that should
#: take minutes on 2 CPU cores. ``--subjects sub-01,sub-02,sub-03`` runs all.
BENCH_SUBJECTS: dict[str, tuple[str, ...] | None] = {"tiny": None, "default": ("sub-01",), "full": None}


def default_bench_data(preset: str) -> Path:
    """Where ``reconbench bench`` keeps its data: ``$RECONBENCH_DATA``, else
    ``~/reconbench_data/simulated-<preset>``."""
    import os

    from reconbench.bench.paths import DATA_ENV

    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / "reconbench_data" / f"simulated-{preset}"


def run_preset(
    preset: str = "default",
    *,
    data: str | Path | None = None,
    out: str | Path | None = None,
    jobs: int = 1,
    subjects: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    methods_dir: str | Path | None = None,
    scheduler: Any = None,
    threads: int | None = None,
    force: bool = False,
    progress: bool = False,
) -> RunSummary:
    """The main job: simulate ``preset`` (seed 0) into ``data`` if it is not there,
    run every discovered method (or the ``methods`` given) with all its
    parameter sets (seed 0) and write
    results and the leaderboard into ``out`` (default ``results/<preset>``).

    A second call skips every finished cell and rewrites identical files.
    """
    from reconbench.bench.simulate import PRESETS, simulate

    if preset not in PRESETS:
        raise ReconbenchError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    data = Path(data).expanduser() if data is not None else default_bench_data(preset)
    found = simulated_preset(data)
    if found is None:
        if data.exists() and any(data.iterdir()):
            raise ReconbenchError(
                f"{data} exists but holds no simulated dataset (no ground_truth/simulation.json); "
                f"pass --data with an empty or new folder"
            )
        if data.exists():
            data.rmdir()
        simulate(preset=preset, out=data, seed=0, force=False, progress=progress)
    elif found != preset:
        raise ReconbenchError(f"{data} holds the {found!r} preset, not {preset!r}; pass --data for another folder")
    out = Path(out) if out is not None else Path("results") / preset
    return run_benchmark(
        f"simulated:{preset}", data, out, subjects=subjects or BENCH_SUBJECTS.get(preset), methods=methods, seeds=(0,),
        methods_dir=methods_dir, jobs=jobs, scheduler=scheduler, threads=threads, force=force, progress=progress,
    )


def print_listing(methods_dir: str | Path | None = None) -> None:
    """Print methods (parameter sets, kind, citation, requirements), metrics and datasets."""
    from rich.console import Console
    from rich.table import Table

    from reconbench.bench.evaluate import EVALUATION_SIZES
    from reconbench.bench.registry import discover_methods

    console = Console()
    methods = Table(title="Methods", title_justify="left")
    for column in ("name", "kind", "parameter sets", "citation", "requires"):
        methods.add_column(column, overflow="fold")
    for name, cls in discover_methods(methods_dir).items():
        sets = "; ".join(f"{k} {params_hash(name, v)}: {json.dumps(dict(v), sort_keys=True, default=repr)}"
                         for k, v in cls.parameter_sets.items())
        methods.add_row(name, "oracle" if cls.is_oracle else "method", sets, cls.citation or "–", ", ".join(cls.requires) or "–")
    console.print(methods)

    metrics = Table(title="Metrics", title_justify="left")
    for column in ("name", "direction", "chance", "needs weights", "recipe"):
        metrics.add_column(column, overflow="fold")
    try:
        specs = default_metrics(None)
    except ImportError as exc:  # pragma: no cover - the registry is part of the package
        specs = {}
        console.print(f"[red]metrics registry unavailable: {exc}[/]")
    for name, spec in specs.items():
        chance = getattr(spec, "chance", None)
        metrics.add_row(name, "higher is better" if spec.higher_is_better else "lower is better",
                        "–" if chance is None else f"{chance:g}", "yes" if spec.needs_weights else "no", str(spec.recipe))
    console.print(metrics)

    datasets = Table(title="Datasets", title_justify="left")
    for column in ("name", "evaluation resolution", "subjects", "data"):
        datasets.add_column(column, overflow="fold")
    try:
        from reconbench.bench.simulate import PRESETS
    except ImportError:  # pragma: no cover
        PRESETS = {}
    for name, size in EVALUATION_SIZES.items():
        kind, preset = parse_dataset(name)
        if kind == "simulated":
            subjects = ", ".join(PRESETS[preset].subjects) if preset in PRESETS else "?"
            where = f"reconbench simulate --preset {preset} (bench default: {default_bench_data(preset)})"
        else:
            subjects, where = "sub-01, sub-02, sub-03", "the preprocessed OpenNeuro ds001506 files (--data) + your stimulus folder"
        datasets.add_row(name, "native size" if size is None else f"{size} x {size}", subjects, where)
    console.print(datasets)
