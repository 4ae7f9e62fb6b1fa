"""The result store: tidy long rows, one file per finished cell, resumable.

A *cell* is one (method, parameter set, dataset, subject, seed). Its rows are
written atomically to ``cells/<cell_key>.parquet`` beside a
``cells/<cell_key>.json`` record (status, error, timings, config hash). A rerun
asks :meth:`ResultStore.finished` and skips cells that are there, the bdpy
results-store idea. :meth:`ResultStore.consolidate` gathers every cell into
``results.parquet`` and ``results.csv``, sorted by the key columns so the same
cells always give byte-identical files.

Layout of a results folder::

    RESULTS/
      results.parquet, results.csv       every row of every cell
      cells/<cell_key>.parquet, .json    one cell (the unit of resume)
      reconstructions/<dataset>/<subject>/<test_set>/<method>__<param_set>__seed<seed>/<stimulus_id>.png
      reconstructions/<dataset>/<subject>/<test_set>/_true/<stimulus_id>.png
      leaderboard/                       written by reconbench.leaderboard
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

import reconbench
from reconbench.core import atomic
from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import stable_hash

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
    "code_version",
    "package_versions",  # JSON {package: version}
    "fit_seconds",
    "reconstruct_seconds",
    "score_seconds",
    "peak_memory_mb",
    "sealed",  # "yes"/"no": the method process ran with its filesystem sealed; "" for harness rows and older folders
]
COLUMNS = KEY_COLUMNS + VALUE_COLUMNS + RUN_COLUMNS
#: Columns that change from run to run on the same inputs (timings, memory);
#: everything else must be identical between a local and a Dask run.
VOLATILE_COLUMNS = ["fit_seconds", "reconstruct_seconds", "score_seconds", "peak_memory_mb"]

#: Packages whose versions are recorded with every row.
TRACKED_PACKAGES = (
    "reconbench", "numpy", "scipy", "torch", "scikit-learn", "scikit-image",
    "himalaya", "bdpy", "h5py", "pandas", "pyarrow", "pillow",
)


def cell_key(method: str, params_hash: str, dataset: str, subject: str, seed: int) -> str:
    """The resume key of a cell: a hash of what identifies it (not of how it ran)."""
    return stable_hash(
        {"method": method, "params_hash": params_hash, "dataset": dataset, "subject": subject, "seed": int(seed)}
    )


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    """JSON object of the installed versions of :data:`TRACKED_PACKAGES` (absent ones omitted)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return json.dumps(versions, sort_keys=True)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the checkout the package runs from, else
    ``reconbench <version>`` for an installed copy."""

    package_dir = Path(reconbench.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=package_dir.parent, capture_output=True, text=True, timeout=10, check=True,
        )
        described = out.stdout.strip()
        if described:
            return described
    except (OSError, subprocess.SubprocessError):
        pass
    return f"reconbench {reconbench.__version__}"


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
    if "sealed" not in frame.columns:  # folders written before the method process was sealed
        frame = frame.assign(sealed="")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ReconbenchError(f"result rows lack column(s) {', '.join(missing)}")
    frame = frame[COLUMNS].copy()
    for col in ("dataset", "subject", "test_set", "method", "param_set", "params_hash", "metric", "stimulus_id",
                "kind", "status", "error", "cell_key", "config_hash", "params", "code_version", "package_versions", "sealed"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), "").astype(str)
    frame["seed"] = frame["seed"].astype("int64")
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

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    # -- cells ---------------------------------------------------------------
    def record(self, key: str) -> dict | None:
        """The JSON record of a finished cell, or None."""
        path = self.cells_dir / f"{key}.json"
        if not path.is_file() or not (self.cells_dir / f"{key}.parquet").is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReconbenchError(f"cell record {path} is not valid JSON ({exc}); delete it to rerun that cell") from exc

    def finished(self, key: str, config_hash: str | None = None, *, retry_failed: bool = False) -> bool:
        """True if the cell ``key`` is stored (with the same ``config_hash`` if given).

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
        last, so a cell is only "finished" once everything it wrote is on disk."""
        for rel, data in (files or {}).items():
            atomic.write_bytes(self.root / rel, data)
        rows = normalise(rows)
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(self.cells_dir / f"{key}.parquet") as tmp:
            rows.to_parquet(tmp, index=False)
        atomic.write_text(self.cells_dir / f"{key}.json", json.dumps(dict(record), indent=2, sort_keys=True, default=str))

    def cell_keys(self) -> list[str]:
        """Keys of every stored cell, sorted."""
        if not self.cells_dir.is_dir():
            return []
        return sorted(p.stem for p in self.cells_dir.glob("*.json") if (self.cells_dir / f"{p.stem}.parquet").is_file())

    def load_cells(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Rows of the given (default: all) stored cells, normalised and sorted."""
        keys = self.cell_keys() if keys is None else list(keys)
        frames = [pd.read_parquet(self.cells_dir / f"{k}.parquet") for k in keys]
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_frame()
        return normalise(pd.concat(frames, ignore_index=True))

    # -- consolidated tables -------------------------------------------------
    def consolidate(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Write ``results.parquet`` and ``results.csv`` from the stored cells; return the rows."""
        rows = self.load_cells(keys)
        with atomic.atomic_path(self.root / "results.parquet") as tmp:
            rows.to_parquet(tmp, index=False)
        with atomic.atomic_path(self.root / "results.csv") as tmp:
            rows.to_csv(tmp, index=False, float_format="%.10g")
        return rows

    def load(self) -> pd.DataFrame:
        """The consolidated rows (``results.parquet``)."""
        return load_results(self.root)


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
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"subject": str, "stimulus_id": str})
    else:
        raise ReconbenchError(f"results file {path}: expected .parquet or .csv")
    return normalise(frame)


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows without the columns that legitimately vary between identical runs
    (:data:`VOLATILE_COLUMNS`), for comparing two runs."""
    return frame.drop(columns=VOLATILE_COLUMNS).sort_values(KEY_COLUMNS).reset_index(drop=True)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode one image, shape (3, H, W) float in [0, 1], as 8-bit RGB PNG bytes."""
    import io

    from PIL import Image

    arr = np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
