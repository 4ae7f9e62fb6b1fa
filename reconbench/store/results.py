"""The result store: tidy long rows, one file per finished cell, resumable.

A *cell* is one (method, parameter set, dataset, subject, seed). Its rows are
written atomically to ``cells/<cell_key>.parquet`` beside a
``cells/<cell_key>.json`` record (status, error, timings, config hash). A rerun
asks :meth:`ResultStore.finished` and skips cells that are there, the bdpy
results-store idea. :meth:`ResultStore.consolidate` gathers every cell into
``results.parquet`` and ``results.csv``, sorted by the key columns so the same
cells always give byte-identical files.

Integrity: each cell record holds the sha256 of its rows file and its own key.
A record that is not a JSON object, names another key, or whose rows file is
missing its hash is *corrupt*: :meth:`ResultStore.open_for_run` moves it aside
into ``cells/quarantine/`` (with a ``.reason.txt``) and the runner recomputes
the cell. A results folder never loses rows: rows of ``results.parquet`` that
belong to no cell file (a committed folder ships without ``cells/``) are
written back as cells ("adopted") before a run, so a run that adds a method
adds rows. One run at a time writes a folder (``.lock``, an advisory lock that
names its holder); leftovers of killed writes (``.NAME.*.tmp``) are removed
when a run starts.

Layout of a results folder::

    RESULTS/
      results.parquet, results.csv       every row of every cell
      diagnostics.csv                    stage-wise diagnostics of the cells that have them
      cells/<cell_key>.parquet, .json    one cell (the unit of resume)
      cells/quarantine/                  corrupt cell files moved aside, with the reason
      .lock                              held by the run writing the folder
      reconstructions/<dataset>/<subject>/<test_set>/<method>__<param_set>__seed<seed>/<stimulus_id>.png
      reconstructions/<dataset>/<subject>/<test_set>/_true/<stimulus_id>.png
      leaderboard/                       written by reconbench.leaderboard
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from reconbench.core import atomic
from reconbench.core.device import DEVICE_COLUMNS, device_kind
from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import sha256_file, stable_hash

try:  # advisory locks; Linux and macOS (the container is Linux)
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]

#: Columns that identify a score. A row is unique on these.
KEY_COLUMNS = ["dataset", "subject", "test_set", "method", "param_set", "params_hash", "seed", "metric", "stimulus_id"]
#: Per-row score and metric metadata.
VALUE_COLUMNS = ["value", "higher_is_better", "chance"]
#: Provenance of the run that made the row.
RUN_COLUMNS = [
    "kind",  # "method", "oracle" or "reference" (chance-like rows computed by the harness)
    "status",  # "ok" or "failed"
    "error",  # "" or "ExceptionType: message"
    "cell_key",
    "config_hash",
    "params",  # JSON of the __init__ keywords
    "code_version",  # reconbench.core.provenance.code_version
    "package_versions",  # JSON {package: version}, reconbench.core.provenance.package_versions
    "fit_seconds",
    "reconstruct_seconds",
    "score_seconds",
    "peak_memory_mb",
    "threads",  # torch/BLAS threads the cell ran with (float rounding depends on it); NA in older rows
    "weights",  # JSON {weights name: sha256} of the pretrained weights loaded to make and score the rows
    "sealed",  # "yes"/"no": the method process ran with its filesystem sealed; "" for harness rows and older folders
    # The cell's device (reconbench.core.device.device_info): "cpu", "cuda" or "cuda:N", the GPU's name,
    # torch's CUDA and cuDNN versions ("" on the CPU) and the torch version; all "" in rows older than them.
    "device",
    "gpu_name",
    "cuda_version",
    "cudnn_version",
    "torch_version",
]
#: Run columns that rows written before they existed lack, with the value they read as.
OPTIONAL_COLUMNS: dict[str, Any] = {
    "threads": pd.NA,
    "weights": "",
    "sealed": "",
    "device": "",
    "gpu_name": "",
    "cuda_version": "",
    "cudnn_version": "",
    "torch_version": "",
}
COLUMNS = KEY_COLUMNS + VALUE_COLUMNS + RUN_COLUMNS
#: Columns that change from run to run on the same inputs (timings, memory);
#: everything else must be identical between a local and a Dask run.
VOLATILE_COLUMNS = ["fit_seconds", "reconstruct_seconds", "score_seconds", "peak_memory_mb"]


def cell_key(method: str, params_hash: str, dataset: str, subject: str, seed: int, device: str = "cpu") -> str:
    """The resume key of a cell: a hash of what identifies it (not of how it ran).

    A cell on a GPU is another cell than the same one on the CPU: its key adds the
    device kind (:func:`reconbench.core.device.device_kind`); a CPU cell's key is what it always was.
    """
    identity: dict[str, Any] = {"method": method, "params_hash": params_hash, "dataset": dataset, "subject": subject, "seed": int(seed)}
    if device_kind(device) != "cpu":
        identity["device"] = device_kind(device)
    return stable_hash(identity)


def dataset_folder_name(dataset: str) -> str:
    """A file-system safe name of a dataset (``simulated:tiny`` -> ``simulated-tiny``)."""
    return dataset.replace(":", "-").replace("/", "-")


def reconstruction_dir(dataset: str, subject: str, test_set: str, method: str | None, param_set: str = "", seed: int = 0) -> Path:
    """Relative folder of a cell's reconstruction PNGs (``method=None``: the true images)."""
    base = Path("reconstructions") / dataset_folder_name(dataset) / subject / test_set
    return base / ("_true" if method is None else f"{method}__{param_set}__seed{seed}")


def empty_frame() -> pd.DataFrame:
    """A results frame with every column and no rows."""
    return normalise(pd.DataFrame({c: [] for c in COLUMNS}))


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the column order and dtypes of the store, rows sorted by key."""
    missing = [c for c in COLUMNS if c not in frame.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise ReconbenchError(f"result rows lack column(s) {', '.join(missing)}")
    frame = frame.copy()
    for col, default in OPTIONAL_COLUMNS.items():
        if col not in frame.columns:
            frame[col] = default
    frame = frame[COLUMNS].copy()
    for col in (
        "dataset",
        "subject",
        "test_set",
        "method",
        "param_set",
        "params_hash",
        "metric",
        "stimulus_id",
        "kind",
        "status",
        "error",
        "cell_key",
        "config_hash",
        "params",
        "code_version",
        "package_versions",
        "weights",
        "sealed",
        *DEVICE_COLUMNS,
    ):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), "").astype(str)
    frame["seed"] = frame["seed"].astype("int64")
    frame["threads"] = pd.to_numeric(frame["threads"], errors="coerce").astype("Int64")
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    for col in ("value", "chance", *VOLATILE_COLUMNS):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)


class ResultStore:
    """A results folder (see the module docstring for its layout).

    Parameters
    ----------
    root : path
        The folder; created on first write.
    """

    #: Sub-folder of ``cells/`` where corrupt cell files are moved.
    QUARANTINE = "quarantine"
    LOCK_NAME = ".lock"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    # -- cells ---------------------------------------------------------------
    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.cells_dir / f"{key}.json", self.cells_dir / f"{key}.parquet"

    def check_cell(self, key: str) -> tuple[dict | None, str]:
        """``(record, "")`` for a sound stored cell, ``(None, "")`` for an absent or
        half-written one (no record or no rows: not finished), ``(None, reason)``
        for a corrupt one."""
        record_path, rows_path = self._paths(key)
        if not record_path.is_file() or not rows_path.is_file():
            return None, ""
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"record is not valid JSON ({type(exc).__name__})"
        if not isinstance(record, dict):
            return None, f"record is a JSON {type(record).__name__}, not an object"
        if record.get("key", key) != key:
            return None, f"record belongs to cell {str(record.get('key'))[:32]!r}"
        expected = record.get("rows_sha256")
        try:
            if expected is not None:
                if sha256_file(rows_path) != expected:
                    return None, "rows file does not match the sha256 in its record (truncated, altered or partly written)"
            else:
                # A cell written before records held a checksum: accept it if its rows read back and are its own.
                rows = pd.read_parquet(rows_path)
                if len(rows) and "cell_key" in rows.columns and set(rows["cell_key"].astype(str)) != {key}:
                    return None, "rows file holds rows of another cell"
        except Exception as exc:  # noqa: BLE001 - any unreadable file is corrupt, whatever the parser raises
            return None, f"rows file is unreadable ({type(exc).__name__})"
        return record, ""

    def record(self, key: str) -> dict | None:
        """The JSON record of a sound finished cell, or None (absent, half-written or corrupt)."""
        return self.check_cell(key)[0]

    def finished(self, key: str, config_hash: str | None = None, *, retry_failed: bool = False) -> bool:
        """True if the cell ``key`` is stored and sound (with the same ``config_hash`` if given).

        A failed cell counts as finished unless ``retry_failed``.
        """
        rec = self.record(key)
        if rec is None:
            return False
        if config_hash is not None and rec.get("config_hash") != config_hash:
            return False
        if retry_failed and rec.get("status") != "ok":
            return False
        return True

    def write_cell(self, key: str, rows: pd.DataFrame, record: Mapping[str, Any], files: Mapping[str, bytes] | None = None) -> None:
        """Store one cell: extra files first (PNGs), then rows, then the record
        last (with the rows' sha256 and the key), so a cell is only "finished"
        once everything it wrote is on disk and its rows can be checked."""
        for rel, data in (files or {}).items():
            atomic.write_bytes(self.inside(rel), data)
        rows = normalise(rows)
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        record_path, rows_path = self._paths(key)
        with atomic.atomic_path(rows_path) as tmp:
            rows.to_parquet(tmp, index=False)
            digest = sha256_file(tmp)
        full = dict(record) | {"key": key, "rows_sha256": digest}
        atomic.write_text(record_path, json.dumps(full, indent=2, sort_keys=True, default=str))

    def inside(self, rel: str | os.PathLike) -> Path:
        """``root / rel``, checked to stay inside the results folder (``rel`` is relative, without ``..``,
        and no folder on the way is a symbolic link leading out)."""
        path = Path(rel)
        root = self.root.resolve()
        target = (root / path).resolve()
        if path.is_absolute() or ".." in path.parts or (target != root and root not in target.parents):
            raise ReconbenchError(f"refusing to write {rel!r}: the path leaves the results folder {self.root}")
        return self.root / path

    def cell_keys(self) -> list[str]:
        """Keys of every stored cell (record and rows present), sorted."""
        if not self.cells_dir.is_dir():
            return []
        return sorted(p.stem for p in self.cells_dir.glob("*.json") if (self.cells_dir / f"{p.stem}.parquet").is_file())

    def quarantine(self, key: str, reason: str) -> Path:
        """Move a corrupt cell's files to ``cells/quarantine/`` beside a ``.reason.txt``; return that folder."""
        folder = self.cells_dir / self.QUARANTINE
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for path in self._paths(key):
            if path.exists():
                os.replace(path, folder / f"{path.stem}.{stamp}{path.suffix}")
        atomic.write_text(folder / f"{key}.{stamp}.reason.txt", reason + "\n")
        return folder

    def repair(self) -> list[str]:
        """Move every corrupt cell aside (see :meth:`quarantine`); return one line per cell."""
        reports = []
        for key in self.cell_keys():
            _, reason = self.check_cell(key)
            if reason:
                folder = self.quarantine(key, reason)
                reports.append(f"cell {key}: {reason}; moved to {folder}, it will be recomputed")
        return reports

    def adopt_consolidated(self) -> int:
        """Write the rows of ``results.parquet`` that belong to no cell file back as
        cells (a committed folder ships without ``cells/``), so that consolidating
        never drops them and resuming skips them. Returns the number of cells adopted.

        Raises
        ------
        ReconbenchError
            ``results.parquet`` exists but cannot be read.
        """
        path = self.root / "results.parquet"
        if not path.is_file():
            return 0
        try:
            rows = load_results(path)
        except Exception as exc:  # noqa: BLE001 - whatever the parser raises, say which file and what to do
            raise ReconbenchError(
                f"{path} is unreadable ({type(exc).__name__}) and may hold rows no cell file has; "
                f"restore it (e.g. 'git checkout -- {path}') or move it aside, then rerun"
            ) from None
        present = set(self.cell_keys())
        quarantined = {p.name.split(".")[0] for p in (self.cells_dir / self.QUARANTINE).glob("*")} if (self.cells_dir / self.QUARANTINE).is_dir() else set()
        adopted = 0
        for key, cell_rows in rows.groupby("cell_key", sort=True):
            if not key or key in present or key in quarantined:
                continue
            failed = cell_rows["status"] != "ok"
            errors = {(test_set or "fit"): error for test_set, error in zip(cell_rows.loc[failed, "test_set"], cell_rows.loc[failed, "error"])}
            hashes = sorted(set(cell_rows["config_hash"]))
            record = {
                "status": "failed" if failed.any() else "ok",
                "errors": errors,
                "config_hash": hashes[0] if len(hashes) == 1 else "",
                "adopted_from": "results.parquet",
            }
            self.write_cell(str(key), cell_rows, record)
            adopted += 1
        return adopted

    @contextlib.contextmanager
    def open_for_run(self) -> Iterator[list[str]]:
        """Hold the folder's lock for a run; on entry remove leftovers of killed
        writes, move corrupt cells aside and adopt orphan consolidated rows.
        Yields the lines to report (one per repaired cell).

        Raises
        ------
        ReconbenchError
            Another run holds the folder (the message names it), or the folder cannot be written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise ReconbenchError(f"--out {self.root} is a file, not a folder; pass a folder") from None
        except PermissionError:
            raise ReconbenchError(f"cannot create results folder {self.root} (permission denied); pass a writable --out") from None
        with self._lock():
            reports = [f"removed leftover temporary file {p}" for p in atomic.remove_orphans(self.root)]
            reports += self.repair()
            adopted = self.adopt_consolidated()
            if adopted:
                reports.append(f"{adopted} cell(s) of {self.root / 'results.parquet'} had no cell file; written back to {self.cells_dir}")
            yield reports

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        path = self.root / self.LOCK_NAME
        try:
            handle = os.fdopen(atomic.open_no_follow(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666), "a+", encoding="utf-8")
        except PermissionError:
            raise ReconbenchError(
                f"results folder {self.root} is not writable by this user (uid {os.getuid()}); "
                f'make it writable, or in Docker pass --user "$(id -u):$(id -g)" and create the folder first'
            ) from None
        with handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise ReconbenchError(
                        f"results folder {self.root} is being written by another reconbench run ({holder}); wait for it to finish or pass another --out"
                    ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.flush()
            try:
                yield
            finally:
                # An idle folder's lock file is empty, so reruns leave the folder byte-identical.
                handle.seek(0)
                handle.truncate()
                handle.flush()
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def load_cells(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Rows of the given (default: all) stored cells, normalised and sorted.

        Raises
        ------
        ReconbenchError
            A cell is corrupt (the message names it; a run moves it aside and recomputes it).
        """
        keys = self.cell_keys() if keys is None else list(keys)
        frames = []
        for key in keys:
            _, reason = self.check_cell(key)
            if reason:
                raise ReconbenchError(f"cell {self.cells_dir / key}.parquet is corrupt: {reason}; rerun 'reconbench run' into {self.root} to recompute it")
            frames.append(pd.read_parquet(self._paths(key)[1]))
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_frame()
        return normalise(pd.concat(frames, ignore_index=True))

    # -- consolidated tables -------------------------------------------------
    def consolidate(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Write ``results.parquet`` and ``results.csv`` from the stored cells, and
        ``diagnostics.csv`` from their records' stage-wise diagnostics (rows of cells
        without a record, adopted from a committed folder, are kept); return the rows."""
        keys = self.cell_keys() if keys is None else list(keys)
        rows = self.load_cells(keys)
        with atomic.atomic_path(self.root / "results.parquet") as tmp:
            rows.to_parquet(tmp, index=False)
        with atomic.atomic_path(self.root / "results.csv") as tmp:
            rows.to_csv(tmp, index=False, float_format="%.10g")
        diagnostics = diagnostics_frame(self.record(key) for key in keys)
        existing = load_diagnostics(self.root)
        if existing is not None and len(existing):
            # Cells adopted from a committed results.parquet have no record: keep their diagnostics.
            entry = ["dataset", "subject", "method", "param_set", "seed"]
            known = set(map(tuple, diagnostics[entry].astype(str).values)) if len(diagnostics) else set()
            present = set(map(tuple, rows[entry].astype(str).values)) if len(rows) else set()
            keys_of = existing[entry].astype(str).apply(tuple, axis=1)
            kept = existing[keys_of.map(lambda k: k not in known and k in present)]
            diagnostics = pd.concat([diagnostics, kept[DIAGNOSTIC_COLUMNS]], ignore_index=True) if len(kept) else diagnostics
            diagnostics = diagnostics.sort_values(DIAGNOSTIC_COLUMNS[:8], kind="stable").reset_index(drop=True)
        if len(diagnostics):
            with atomic.atomic_path(self.root / DIAGNOSTICS_FILE) as tmp:
                diagnostics.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n")
        return rows

    def load(self) -> pd.DataFrame:
        """The consolidated rows (``results.parquet``)."""
        return load_results(self.root)


#: Stage-wise diagnostics of a results folder: one row per (cell, test set, stage output, measure).
DIAGNOSTICS_FILE = "diagnostics.csv"
DIAGNOSTIC_COLUMNS = ["dataset", "subject", "test_set", "method", "param_set", "seed", "output", "measure", "value", "n_images"]


def diagnostics_frame(records: Iterable[Mapping[str, Any] | None]) -> pd.DataFrame:
    """Long table of the ``stage_diagnostics`` of cell records (see ``reconbench.bench.diagnostics``):
    per test set, each stage output's measures, and the final image's metric means as output ``final``
    (measure ``image/<metric>``). Sorted, so the same cells give the same file."""
    out = []
    for record in records:
        if not record or not record.get("stage_diagnostics"):
            continue
        spec = record.get("spec") or {}
        base = {k: spec.get(k) for k in ("dataset", "subject", "method", "param_set")} | {"seed": int(spec.get("seed", 0))}
        for test_set, entry in record["stage_diagnostics"].items():
            n_images = entry.get("n_images")
            for output, measures in entry.items():
                if not isinstance(measures, Mapping):
                    continue
                for measure, value in measures.items():
                    measure = f"image/{measure}" if output == "final" else measure
                    out.append(base | {"test_set": test_set, "output": output, "measure": measure, "value": float(value), "n_images": n_images})
    frame = pd.DataFrame(out, columns=DIAGNOSTIC_COLUMNS)
    return frame.sort_values(DIAGNOSTIC_COLUMNS[:8], kind="stable").reset_index(drop=True)


def load_diagnostics(results_dir: str | Path) -> pd.DataFrame | None:
    """The ``diagnostics.csv`` of a results folder, or None when it has none."""
    path = Path(results_dir) / DIAGNOSTICS_FILE
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in DIAGNOSTIC_COLUMNS if c not in frame.columns]
    if missing:
        raise ReconbenchError(f"{path} lacks the column(s) {', '.join(missing)}; expected {', '.join(DIAGNOSTIC_COLUMNS)}")
    return frame


def load_results(path: str | Path) -> pd.DataFrame:
    """Read result rows from a results folder, a ``.parquet`` or a ``.csv`` file."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "results.parquet", path / "results.csv"]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            if (path / "cells").is_dir():
                return ResultStore(path).load_cells()
            raise ReconbenchError(f"{path} holds no results.parquet, results.csv or cells/; run 'reconbench run' first")
        path = found
    if not path.is_file():
        raise ReconbenchError(f"results file {path} does not exist")
    if path.suffix not in (".parquet", ".csv"):
        raise ReconbenchError(f"results file {path}: expected .parquet or .csv")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"subject": str, "stimulus_id": str})
    except Exception as exc:  # noqa: BLE001 - any parser error means the same to a user: the file is damaged
        raise ReconbenchError(f"results file {path} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); restore or regenerate it") from None
    return normalise(frame)


def _first_difference(shown: pd.DataFrame, cells: pd.DataFrame) -> str:
    """Where two normalised frames differ ("" if nowhere): floats within 1e-9 relative
    (a CSV keeps 10 significant digits), every other column exactly."""
    if len(shown) != len(cells):
        return f"{len(shown)} rows, the cells hold {len(cells)}"
    shown = shown.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
    cells = cells.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
    for column in COLUMNS:
        a, b = shown[column], cells[column]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            same = np.isclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=0.0, equal_nan=True)
        else:
            same = a.astype(str).fillna("").to_numpy() == b.astype(str).fillna("").to_numpy()
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            where = " ".join(str(cells.loc[row, k]) for k in ("method", "param_set", "subject", "test_set", "metric", "stimulus_id"))
            return f"column {column!r} of {where}: {a.iloc[row]!r}, the cell says {b.iloc[row]!r}"
    return ""


def load_verified_results(path: str | Path) -> pd.DataFrame:
    """Result rows for display (``reconbench leaderboard``): :func:`load_results`, and where the
    results folder has ``cells/``, the consolidated file checked against its cells (each checked
    against the sha256 in its record): a hand-edited ``results.parquet`` is refused, not rendered.

    A folder without ``cells/`` (e.g. the committed ``results/``, which git versions) is read as it is.

    Raises
    ------
    ReconbenchError
        The file and the cells differ (the message names the first difference), or a cell is corrupt.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    rows = load_results(path)
    if not (folder / "cells").is_dir():
        return rows
    shown = path if path.is_file() else next((p for p in (folder / "results.parquet", folder / "results.csv") if p.is_file()), folder / "cells")
    difference = _first_difference(rows, ResultStore(folder).load_cells())
    if difference:
        raise ReconbenchError(
            f"{shown} does not match the verified cells in {folder / 'cells'} ({difference}): it was edited or is stale. "
            f"Rebuild it from the cells with 'reconbench run ... --out {folder}' (finished cells are skipped), or delete it "
            "and render from the cells"
        )
    return rows


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows without the columns that legitimately vary between identical runs
    (:data:`VOLATILE_COLUMNS`), for comparing two runs."""
    return frame.drop(columns=VOLATILE_COLUMNS).sort_values(KEY_COLUMNS).reset_index(drop=True)
