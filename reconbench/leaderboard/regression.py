"""Regression check: compare a new leaderboard with a committed reference.

``reconbench compare NEW REFERENCE`` (and ``tox -e regression``, and the
verdict that ends ``reconbench bench``) fails when, for any computed row
(kinds ``method``, ``oracle``, ``reference``; matched on dataset, test set,
method, parameter set, params hash and metric):

- its mean moved by more than the row's tolerance in absolute value, or is not
  a number;
- the reference has it and the new run does not, or the new run has it and the
  reference does not: a stale reference fails, and the report names the
  command that regenerates it (``regenerate`` of the tolerance file).

``entries`` (the harness's own grid) or ``subset=True`` (the entries the new
run has) restrict the comparison to part of the reference: the other entries of
the reference are not required.

**Seeds.** When both sides have their ``results.parquet``, the means are
computed from the result rows (:func:`~reconbench.leaderboard.tolerances.row_means`),
and for every entry the reference's mean is taken over the seeds the new run
has, where the reference holds them all: a seed-0 run is compared with the
reference's seed 0, so a rerun on the machine that made the reference
deviates by exactly 0. Otherwise the leaderboard CSVs' means are compared.

The tolerance of each row comes from the tolerance file beside the reference
(``tolerances.json``; see :mod:`reconbench.leaderboard.tolerances`), or is one
flat number when ``tolerance=`` is given (``--tolerance``). Without either, the
flat ``DEFAULT_TOLERANCE`` is used and the report says so. Chance and
literature rows are constants and not compared.

Thread counts: the report states the spread measured for each environment of
the tolerance file, and the thread count per cell of both runs where their
``results.parquet`` records it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.tolerances import (
    ENTRY_COLUMNS,
    KEY_COLUMNS,
    Tolerances,
    find_tolerance_file,
    means_over_matching_seeds,
    read_leaderboard_rows,
    results_beside,
)

MATCH_COLUMNS = list(KEY_COLUMNS)
DEFAULT_TOLERANCE = 0.01


#: Said when a reference's tolerance file does not name the command that regenerates it.
REGENERATE_HINT = "regenerate the reference (docs/regression.md)"


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
    #: The command that regenerates the reference (from its tolerance file), for a stale reference.
    regenerate: str = REGENERATE_HINT
    #: The row with the largest deviation (MATCH_COLUMNS + change, tolerance), if any row was compared.
    largest: dict | None = None

    @property
    def ok(self) -> bool:
        return self.moved.empty and self.missing.empty and self.added.empty

    @property
    def n_within(self) -> int:
        return self.n_compared - len(self.moved)


Entry = tuple[str, str, str, str]


def _entries_of(frame: pd.DataFrame) -> list[Entry]:
    return list(zip(*(frame[c].astype(str) for c in ENTRY_COLUMNS)))


def _keep_entries(frame: pd.DataFrame, entries: set[Entry]) -> pd.DataFrame:
    return frame[[e in entries for e in _entries_of(frame)]].reset_index(drop=True)


def compare_leaderboards(
    new: str | Path,
    reference: str | Path,
    *,
    tolerance: float | None = None,
    tolerances: str | Path | Tolerances | None = None,
    entries: Iterable[Entry] | None = None,
    subset: bool = False,
    allow_added: bool = False,
) -> Comparison:
    """Compare two leaderboard CSVs (or folders holding them); see the module docstring.

    Parameters
    ----------
    tolerance : float, optional
        One flat absolute tolerance for every row (overrides any tolerance file).
    tolerances : path or Tolerances, optional
        Per-row tolerances; default: the ``tolerances.json`` beside ``reference``.
    entries : iterable of (dataset, method, param_set, params_hash), optional
        Compare these entries only (a run's grid): both sides are restricted to
        them, and each must be complete in the new run.
    subset : bool
        Compare only the entries the new run has (a partial rerun of a reference).
    allow_added : bool
        Rows only in the new run are listed, not failed (methods from a plugin
        folder, which no committed reference holds).
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
    if entries is not None:
        wanted = {tuple(str(v) for v in e) for e in entries}
        new_rows, ref_rows = _keep_entries(new_rows, wanted), _keep_entries(ref_rows, wanted)
    elif subset:
        ref_rows = _keep_entries(ref_rows, set(_entries_of(new_rows)))
    new_rows, ref_rows, seed_note = means_over_matching_seeds(new, reference, new_rows, ref_rows)
    notes += seed_note
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
    largest = None
    if len(finite):
        at = finite.idxmax()
        largest = {**{c: both.at[at, c] for c in MATCH_COLUMNS}, "change": float(both.at[at, "change"]), "tolerance": float(both.at[at, "tolerance"])}
    regenerate = str(table.content.get("regenerate") or REGENERATE_HINT) if table is not None else REGENERATE_HINT
    added = merged.loc[merged["_merge"] == "right_only", MATCH_COLUMNS].reset_index(drop=True)
    if allow_added and len(added):
        notes.append(f"{len(added)} row(s) of entries the reference does not hold were not compared")
        added = added.iloc[0:0]
    return Comparison(
        tolerance_source=source,
        n_compared=len(both),
        moved=moved[MATCH_COLUMNS + ["mean_reference", "mean_new", "change", "tolerance"]].reset_index(drop=True),
        missing=merged.loc[merged["_merge"] == "left_only", MATCH_COLUMNS].reset_index(drop=True),
        added=added,
        max_change=float(finite.max()) if len(finite) else 0.0,
        notes=notes,
        regenerate=regenerate,
        largest=largest,
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


def run_thread_counts(leaderboard: str | Path) -> list[int] | None:
    """Thread counts per cell recorded in the rows beside a leaderboard; None when no rows
    are found or they predate the ``threads`` column."""
    rows = results_beside(leaderboard)
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


def _label(r) -> str:
    return f"{r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}"


def print_comparison(report: Comparison, *, verdicts: tuple[str, str] = ("OK", "REGRESSION")) -> None:
    """Print the verdict line (``verdicts``: the word for a pass and for a failure), then what
    moved, what is missing and what was added (names printed literally, never as markup)."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    verdict, style = (verdicts[0], "green") if report.ok else (verdicts[1], "red")
    console.print(verdict, style=style, end="")
    largest = ""
    if report.largest is not None and report.max_change > 0:
        largest = f" ({_label(report.largest)}: {report.largest['change']:+.4g}, tolerance {report.largest['tolerance']:.4g})"
    console.print(
        f": {report.n_within} of {report.n_compared} scores within tolerance, largest deviation {report.max_change:.4g}{largest}"
        f"; {len(report.missing)} missing, {len(report.added)} not in the reference (tolerances: {report.tolerance_source})",
        markup=False,
    )
    for note in report.notes:
        console.print(f"  note: {note}", markup=False)
    for _, r in report.moved.iterrows():
        console.print(
            f"  moved: {_label(r)}: {r['mean_reference']:.4f} -> {r['mean_new']:.4f} ({r['change']:+.4f}; tolerance {r['tolerance']:.4g})",
            markup=False,
        )
    for _, r in report.missing.iterrows():
        console.print(f"  missing (in the reference, not in the new run): {_label(r)}", markup=False)
    for _, r in report.added.iterrows():
        console.print(f"  new (not in the reference): {_label(r)}", markup=False)
    if len(report.missing) or len(report.added):
        console.print(
            "  the two runs cover different rows: a failed cell (see the run's summary), or a reference older than the grid; "
            f"to regenerate the reference: {report.regenerate}",
            markup=False,
        )
