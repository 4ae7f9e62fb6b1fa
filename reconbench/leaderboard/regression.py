"""Regression check: compare a new leaderboard with a committed reference.

``reconbench compare NEW REFERENCE --tolerance T`` (and ``tox -e regression``)
fails when, for any computed row of the reference (kinds ``method``,
``oracle``, ``reference``; matched on dataset, test set, method, parameter set,
params hash and metric):

- the row is missing from the new leaderboard, or
- its mean moved by more than ``T`` in absolute value (default 0.01; every
  metric of the recipe lives on a unit scale, [0, 1] or [-1, 1], so one
  absolute tolerance fits all).

Rows only in the new leaderboard (a method added since) are listed, not
failed. Chance and literature rows are constants and not compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reconbench.core.errors import ReconbenchError

MATCH_COLUMNS = ["dataset", "test_set", "method", "param_set", "params_hash", "metric"]
COMPARED_KINDS = ("method", "oracle", "reference")
DEFAULT_TOLERANCE = 0.01


@dataclass
class Comparison:
    """Outcome of :func:`compare_leaderboards`."""

    tolerance: float
    n_compared: int
    moved: pd.DataFrame  # MATCH_COLUMNS + reference, new, change
    missing: pd.DataFrame  # reference rows absent from the new leaderboard
    added: pd.DataFrame  # new rows absent from the reference
    max_change: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.moved.empty and self.missing.empty


def _read(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        candidates = [path / "leaderboard.csv", path / "leaderboard" / "leaderboard.csv"]
        path = next((p for p in candidates if p.is_file()), candidates[-1])
    if not path.is_file():
        raise ReconbenchError(f"no leaderboard CSV at {path}; run 'reconbench leaderboard' first")
    table = pd.read_csv(path, dtype={"param_set": str, "params_hash": str}, keep_default_na=False, na_values={"mean": [""]})
    missing = [c for c in MATCH_COLUMNS + ["kind", "mean"] if c not in table.columns]
    if missing:
        raise ReconbenchError(f"{path}: not a leaderboard CSV (missing {', '.join(missing)})")
    table = table[table["kind"].isin(COMPARED_KINDS)]
    duplicated = table.duplicated(MATCH_COLUMNS)
    if duplicated.any():
        raise ReconbenchError(f"{path}: duplicate rows for {table.loc[duplicated, MATCH_COLUMNS].iloc[0].to_dict()}")
    return table[MATCH_COLUMNS + ["mean"]]


def compare_leaderboards(new: str | Path, reference: str | Path, *, tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Compare two leaderboard CSVs (or folders holding them); see the module docstring."""
    if tolerance < 0:
        raise ReconbenchError(f"--tolerance must be >= 0, got {tolerance}")
    new_rows, ref_rows = _read(new), _read(reference)
    merged = ref_rows.merge(new_rows, on=MATCH_COLUMNS, how="outer", suffixes=("_reference", "_new"), indicator=True)
    both = merged[merged["_merge"] == "both"].copy()
    both["change"] = both["mean_new"] - both["mean_reference"]
    moved = both[both["change"].abs() > tolerance]
    return Comparison(
        tolerance=tolerance,
        n_compared=len(both),
        moved=moved[MATCH_COLUMNS + ["mean_reference", "mean_new", "change"]].reset_index(drop=True),
        missing=merged.loc[merged["_merge"] == "left_only", MATCH_COLUMNS].reset_index(drop=True),
        added=merged.loc[merged["_merge"] == "right_only", MATCH_COLUMNS].reset_index(drop=True),
        max_change=float(both["change"].abs().max()) if len(both) else 0.0,
    )


def print_comparison(report: Comparison) -> None:
    """Print what moved, what is missing and what was added."""
    from rich.console import Console

    console = Console(stderr=True)
    verdict = "[green]OK[/]" if report.ok else "[red]REGRESSION[/]"
    console.print(f"{verdict}: {report.n_compared} scores compared, largest change {report.max_change:.4g} "
                  f"(tolerance {report.tolerance:g})")
    for _, r in report.moved.iterrows():
        console.print(f"  moved: {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}: "
                      f"{r['mean_reference']:.4f} -> {r['mean_new']:.4f} ({r['change']:+.4f})")
    for _, r in report.missing.iterrows():
        console.print(f"  missing: {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}")
    for _, r in report.added.iterrows():
        console.print(f"  new (not in reference): {r['dataset']} {r['test_set']} {r['method']}[{r['param_set']}] {r['metric']}")
