"""Regression check: compare a new leaderboard with a committed reference.

``reconbench compare NEW REFERENCE`` (and ``tox -e regression``) fails when,
for any computed row of the reference (kinds ``method``, ``oracle``,
``reference``; matched on dataset, test set, method, parameter set, params hash
and metric):

- the row is missing from the new leaderboard, or its new mean is not a number, or
- its mean moved by more than the row's tolerance in absolute value.

The tolerance of each row comes from the tolerance file beside the reference
(``tolerances.json``, measured across execution environments; see
:mod:`reconbench.leaderboard.tolerances`), or is one flat number when
``tolerance=`` is given (``--tolerance``). Without either, the flat
``DEFAULT_TOLERANCE`` is used and the report says so.

Rows only in the new leaderboard (a method added since) are listed, not
failed. Chance and literature rows are constants and not compared.

Thread counts: float rounding, and so every score of a cell that trains a
generator, depends on the torch/BLAS thread count. The report states the
spread measured for each environment of the tolerance file (the thread-count
environments among them), and the thread count per cell of the new and the
reference rows where ``results.parquet`` beside each leaderboard records it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.tolerances import KEY_COLUMNS, Tolerances, find_tolerance_file, read_leaderboard_rows

MATCH_COLUMNS = list(KEY_COLUMNS)
DEFAULT_TOLERANCE = 0.01


@dataclass
class Comparison:
    """Outcome of :func:`compare_leaderboards`."""

    tolerance_source: str  # "flat 0.01" or the tolerance file
    n_compared: int
    moved: pd.DataFrame  # MATCH_COLUMNS + mean_reference, mean_new, change, tolerance
    missing: pd.DataFrame  # reference rows absent from the new leaderboard
    added: pd.DataFrame  # new rows absent from the reference
    max_change: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.moved.empty and self.missing.empty


def compare_leaderboards(
    new: str | Path,
    reference: str | Path,
    *,
    tolerance: float | None = None,
    tolerances: str | Path | Tolerances | None = None,
) -> Comparison:
    """Compare two leaderboard CSVs (or folders holding them); see the module docstring.

    Parameters
    ----------
    tolerance : float, optional
        One flat absolute tolerance for every row (overrides any tolerance file).
    tolerances : path or Tolerances, optional
        Per-row tolerances; default: the ``tolerances.json`` beside ``reference``.
    """
    notes: list[str] = []
    table: Tolerances | None = None
    if tolerance is not None:
        if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
            raise ReconbenchError(f"--tolerance must be a finite number >= 0, got {tolerance}")
        source = f"flat {tolerance:g}"
    else:
        if tolerances is None:
            found = find_tolerance_file(reference)
            tolerances = found
        if isinstance(tolerances, Tolerances):
            table = tolerances
        elif tolerances is not None:
            table = Tolerances.read(tolerances)
        if table is None:
            tolerance = DEFAULT_TOLERANCE
            source = f"flat {DEFAULT_TOLERANCE:g} (no tolerances.json beside the reference)"
        else:
            source = table.source
    new_rows, ref_rows = read_leaderboard_rows(new), read_leaderboard_rows(reference)
    if ref_rows.empty:
        raise ReconbenchError(f"{reference}: the reference leaderboard has no computed rows to compare")
    ref_datasets, new_datasets = set(ref_rows["dataset"]), set(new_rows["dataset"])
    if not ref_datasets & new_datasets:
        raise ReconbenchError(
            f"the leaderboards cover different datasets: new {', '.join(sorted(new_datasets)) or 'none'}, reference {', '.join(sorted(ref_datasets))}"
        )
    merged = ref_rows.drop(columns="n_images").merge(
        new_rows.drop(columns="n_images"), on=MATCH_COLUMNS, how="outer", suffixes=("_reference", "_new"), indicator=True
    )
    both = merged[merged["_merge"] == "both"].copy()
    both["change"] = both["mean_new"] - both["mean_reference"]
    if table is not None:
        looked_up = [table.lookup(row) for _, row in both.iterrows()]
        both["tolerance"] = [t for t, _ in looked_up]
        unmeasured = sum(1 for _, measured in looked_up if not measured)
        if unmeasured:
            notes.append(f"{unmeasured} row(s) without a measured tolerance used the largest of their test set and metric")
    else:
        both["tolerance"] = float(tolerance)
    if table is not None:
        notes += measured_spread_notes(table)
    notes += thread_count_notes(new, reference)
    # A NaN mean (new or reference) never passes: NaN comparisons are False.
    passed = both["change"].abs() <= both["tolerance"]
    moved = both[~passed]
    finite = both["change"].abs().dropna()
    return Comparison(
        tolerance_source=source,
        n_compared=len(both),
        moved=moved[MATCH_COLUMNS + ["mean_reference", "mean_new", "change", "tolerance"]].reset_index(drop=True),
        missing=merged.loc[merged["_merge"] == "left_only", MATCH_COLUMNS].reset_index(drop=True),
        added=merged.loc[merged["_merge"] == "right_only", MATCH_COLUMNS].reset_index(drop=True),
        max_change=float(finite.max()) if len(finite) else 0.0,
        notes=notes,
    )


def measured_spread_notes(table: Tolerances) -> list[str]:
    """One line giving the largest move of the means measured in each environment of a tolerance file."""
    environments = table.content.get("environments") or []
    parts = []
    for env in environments:
        if not isinstance(env, dict) or not isinstance(env.get("largest_change"), (int, float)):
            continue
        threads = env.get("threads")
        label = f"{env.get('name')} ({threads} thread{'s' if threads != 1 else ''})" if threads is not None else str(env.get("name"))
        parts.append(f"{label} {env['largest_change']:.4g}")
    if not parts:
        return []
    return [f"measured spread of the means (largest move per environment, {table.source}): " + ", ".join(parts)]


def _rows_beside(leaderboard: str | Path) -> Path | None:
    """The ``results.parquet`` of the results folder a leaderboard CSV (or folder) belongs to, if any."""
    path = Path(leaderboard)
    folder = path if path.is_dir() else path.parent
    for candidate in (folder / "results.parquet", folder.parent / "results.parquet"):
        if candidate.is_file():
            return candidate
    return None


def run_thread_counts(leaderboard: str | Path) -> list[int] | None:
    """Thread counts per cell recorded in the rows beside a leaderboard; None when no rows
    are found or they predate the ``threads`` column."""
    rows = _rows_beside(leaderboard)
    if rows is None:
        return None
    try:
        threads = pd.read_parquet(rows, columns=["threads"])["threads"]
    except Exception:  # noqa: BLE001 - rows that cannot say their thread count are simply not described
        return None
    counts = sorted({int(t) for t in pd.to_numeric(threads, errors="coerce").dropna()})
    return counts or None


def thread_count_notes(new: str | Path, reference: str | Path) -> list[str]:
    """Say with how many threads per cell each side ran (when the rows record it), and warn when they differ."""
    new_threads, ref_threads = run_thread_counts(new), run_thread_counts(reference)
    if new_threads is None and ref_threads is None:
        return []

    def said(counts: list[int] | None) -> str:
        return "not recorded (rows made before they recorded it)" if counts is None else "/".join(map(str, counts))

    line = f"threads per cell: new {said(new_threads)}, reference {said(ref_threads)}"
    if new_threads is not None and ref_threads is not None and new_threads != ref_threads:
        line += (
            "; they differ, and scores of cells that train a generator move with the thread count "
            "(by up to the measured spread; rerun with the reference's --threads to compare like with like)"
        )
    return [line]


def print_comparison(report: Comparison) -> None:
    """Print what moved, what is missing and what was added (names printed literally, never as markup)."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    verdict, style = ("OK", "green") if report.ok else ("REGRESSION", "red")
    console.print(verdict, style=style, end="")
    console.print(f": {report.n_compared} scores compared, largest change {report.max_change:.4g} (tolerances: {report.tolerance_source})", markup=False)
    for note in report.notes:
        console.print(f"  note: {note}", markup=False)
    for _, r in report.moved.iterrows():
        console.print(
            f"  moved: {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}: "
            f"{r['mean_reference']:.4f} -> {r['mean_new']:.4f} ({r['change']:+.4f}; tolerance {r['tolerance']:.4g})",
            markup=False,
        )
    for _, r in report.missing.iterrows():
        console.print(f"  missing: {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}", markup=False)
    for _, r in report.added.iterrows():
        console.print(f"  new (not in reference): {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}", markup=False)
