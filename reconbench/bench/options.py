"""What a user chooses for a run, as one object: :class:`RunOptions`.

``reconbench run``, ``bench`` and ``sweep`` take the same options (which cells, on which
workers and device, within which limits); the command line declares each once and builds
one :class:`RunOptions`, which the runner checks once and hands down. Cells receive the
parts they need through their :class:`~reconbench.bench.cell.CellSpec`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from reconbench.core.errors import ReconbenchError

#: Seeds are handed to numpy and torch generators, which take unsigned 32-bit values.
MAX_SEED = 2**32 - 1

#: The shortest --cell-timeout accepted (seconds; 0 means no limit): a method process needs about a
#: second to start and seal itself, so a shorter limit could only fail every cell.
MIN_CELL_TIMEOUT = 1.0

#: ``write(results_dir, rows) -> leaderboard folder``: how a run writes its leaderboard.
LeaderboardWriter = Callable[[Path, pd.DataFrame], Path]


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; the one parser of ``--seeds``.

    Raises
    ------
    ReconbenchError
        A part that is not an integer.
    """
    try:
        return tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        raise ReconbenchError(f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 0,1,2") from None


def _number(value: Any, option: str) -> float:
    if isinstance(value, bool):
        raise ReconbenchError(f"{option} {value}: expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ReconbenchError(f"{option} {value!r}: expected a number") from None


def _names(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass(frozen=True)
class RunOptions:
    """The options of a run (``reconbench run``, ``bench`` and ``sweep``), checked by :meth:`checked`.

    Attributes
    ----------
    subjects : tuple of str, optional
        Default: every subject in the data folder (``bench``: the preset's).
    methods : tuple of str, optional
        ``NAME`` or ``NAME:PARAM_SET``; default: every discovered method (``bench``: the grid's).
    seeds : tuple of int, optional
        Default ``(0,)`` (``bench``: the grid's seeds). A method without a seed runs once.
    metrics : tuple of str, optional
        Default: every registry metric.
    methods_dir : path, optional
        A folder of extra one-file methods.
    jobs : int
        Local worker processes.
    scheduler : str or distributed.Client, optional
        Run the cells on this Dask cluster.
    threads : int, optional
        torch/BLAS threads per cell; default ``cpu_count // jobs`` (at least 1). Rows are
        bitwise identical across executors for the same value; other values change float
        rounding only.
    device : str, optional
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; default ``$RECONBENCH_DEVICE``, else ``auto``
        (resolved once per run, :func:`reconbench.bench.executors.resolve_run_device`).
    force, retry_failed : bool
        Rerun finished cells; rerun cells that failed before.
    references : bool
        Add the harness's reference cells where the data has their ground truth.
    cell_timeout : float, optional
        Wall-clock limit (seconds) of each cell's method process; default: the dataset's
        (:attr:`reconbench.datasets.catalog.Dataset.cell_timeout`); 0: no limit.
    cell_memory_mb : float, optional
        Resident (host) memory cap (MB) of each cell's method process; default: none.
    seal : bool
        Seal each method process's filesystem view (Landlock) where the platform allows.
    progress : bool
        Show progress bars.
    leaderboard : callable, optional
        ``leaderboard(out, rows) -> folder``, called once at the end; None: no leaderboard.
    """

    subjects: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    metrics: tuple[str, ...] | None = None
    methods_dir: Path | None = None
    jobs: int = 1
    scheduler: Any = None
    threads: int | None = None
    device: str | None = None
    force: bool = False
    retry_failed: bool = False
    references: bool = True
    cell_timeout: float | None = None
    cell_memory_mb: float | None = None
    seal: bool = True
    progress: bool = False
    leaderboard: LeaderboardWriter | None = None

    @classmethod
    def build(cls, options: RunOptions | None = None, overrides: Mapping[str, Any] | None = None) -> RunOptions:
        """``options`` (default: all defaults) with ``overrides`` replaced, names checked.

        Raises
        ------
        TypeError
            An override that is no option, with the list of options.
        """
        options = options if options is not None else cls()
        if not overrides:
            return options
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown run option(s) {', '.join(unknown)}; the options are {', '.join(sorted(fields))}")
        return dataclasses.replace(options, **overrides)

    def __post_init__(self) -> None:
        for name in ("subjects", "methods", "metrics"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.methods_dir is not None:
            object.__setattr__(self, "methods_dir", Path(self.methods_dir))

    def checked(self) -> RunOptions:
        """``self``, after refusing values that cannot run, before any work.

        Raises
        ------
        ReconbenchError
            No seed, a seed outside ``0..2**32-1``, ``jobs < 1``, ``threads < 1``, a timeout that is not a
            finite number, negative or between 0 and :data:`MIN_CELL_TIMEOUT`, a memory cap that is not
            a finite number above 0; each in one line naming the option.
        """
        if self.seeds is not None:
            if not self.seeds:
                raise ReconbenchError("no seeds given; pass --seeds with comma-separated integers, e.g. --seeds 0,1")
            for seed in self.seeds:
                if not 0 <= int(seed) <= MAX_SEED:
                    raise ReconbenchError(f"seed {seed} is out of range; seeds are integers from 0 to {MAX_SEED}")
        if int(self.jobs) < 1:
            raise ReconbenchError(f"--jobs {self.jobs}: expected a number of worker processes of at least 1")
        if self.threads is not None and int(self.threads) < 1:
            raise ReconbenchError(f"--threads {self.threads}: expected a number of threads of at least 1")
        if self.cell_timeout is not None:
            value = _number(self.cell_timeout, "--cell-timeout")
            if not math.isfinite(value) or value < 0 or 0 < value < MIN_CELL_TIMEOUT:
                raise ReconbenchError(f"--cell-timeout {self.cell_timeout}: expected a finite number of seconds of at least {MIN_CELL_TIMEOUT:g} (0: no limit)")
        if self.cell_memory_mb is not None:
            value = _number(self.cell_memory_mb, "--cell-memory")
            if not math.isfinite(value) or value <= 0:
                raise ReconbenchError(f"--cell-memory {self.cell_memory_mb}: expected a finite number of megabytes above 0 (leave it out for no cap)")
        return self

    def cell_threads(self) -> int:
        """torch/BLAS threads per cell: ``threads``, else the CPU count shared by the jobs (at least 1)."""
        return int(self.threads) if self.threads is not None else max(1, (os.cpu_count() or 1) // max(1, int(self.jobs)))
