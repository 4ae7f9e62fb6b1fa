"""reconbench.leaderboard: result rows -> Markdown, CSV and a self-contained HTML page.

:func:`write_leaderboard` is what ``reconbench leaderboard RESULTS --out DIR``
and the end of ``reconbench run`` call (the command line passes the reference
rows' captions; the leaderboard imports ``core``, the store and metric metadata only). How tables are computed is documented
in :mod:`reconbench.leaderboard.tables`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from reconbench.core import atomic
from reconbench.core.types import RowNote
from reconbench.leaderboard.html import to_html
from reconbench.leaderboard.render import to_csv, to_markdown
from reconbench.leaderboard.tables import read_citations, summarise
from reconbench.store.results import load_diagnostics, load_verified_results

__all__ = ["write_leaderboard", "summarise", "read_citations", "to_markdown", "to_csv", "to_html"]


def write_leaderboard(
    results: str | Path,
    out: str | Path | None = None,
    *,
    rows: pd.DataFrame | None = None,
    citations: str | Path | None = None,
    title: str = "reconbench leaderboard",
    notes: Mapping[str, RowNote] | None = None,
) -> Path:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.html``.

    Parameters
    ----------
    results : path
        A results folder (its ``reconstructions/`` feed the image grid) or a
        results file.
    out : path, optional
        Output folder; default ``<results>/leaderboard``.
    rows : DataFrame, optional
        Result rows already in memory (default: read from ``results``).
    citations : path, optional
        Literature rows; default: the packaged ``citations.csv``.
    notes : mapping of str to RowNote, optional
        Caption and legend sentence of each reference row, from the reference
        plugins (``reconbench.references.reference_notes()``, passed by the
        command line: the leaderboard names no row itself).

    Returns
    -------
    Path
        The output folder.
    """
    results = Path(results)
    results_dir = results if results.is_dir() else results.parent
    out = results_dir / "leaderboard" if out is None else Path(out)
    rows = load_verified_results(results) if rows is None else rows
    summary = summarise(rows, citations=read_citations(citations))
    if notes is not None and "method" in summary:
        # The legend explains the reference rows the tables show, not every reference that exists.
        shown = set(summary["method"])
        notes = {name: note for name, note in notes.items() if name in shown}
    diagnostics = load_diagnostics(results_dir)
    atomic.write_text(out / "leaderboard.md", to_markdown(summary, title=title, notes=notes, diagnostics=diagnostics))
    atomic.write_text(out / "leaderboard.csv", to_csv(summary))
    atomic.write_text(out / "leaderboard.html", to_html(summary, rows, results_dir, title=title, notes=notes, diagnostics=diagnostics))
    return out
