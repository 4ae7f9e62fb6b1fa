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
            f"the leaderboards cover different datasets: new {', '.join(sorted(new_datasets)) or 'none'}, "
            f"reference {', '.join(sorted(ref_datasets))}"
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


def print_comparison(report: Comparison) -> None:
    """Print what moved, what is missing and what was added (names printed literally, never as markup)."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    verdict, style = ("OK", "green") if report.ok else ("REGRESSION", "red")
    console.print(verdict, style=style, end="")
    console.print(f": {report.n_compared} scores compared, largest change {report.max_change:.4g} "
                  f"(tolerances: {report.tolerance_source})", markup=False)
    for note in report.notes:
        console.print(f"  note: {note}", markup=False)
    for _, r in report.moved.iterrows():
        console.print(f"  moved: {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}: "
                      f"{r['mean_reference']:.4f} -> {r['mean_new']:.4f} ({r['change']:+.4f}; tolerance {r['tolerance']:.4g})",
                      markup=False)
    for _, r in report.missing.iterrows():
        console.print(f"  missing: {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}", markup=False)
    for _, r in report.added.iterrows():
        console.print(f"  new (not in reference): {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}",
                      markup=False)
