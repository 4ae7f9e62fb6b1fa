"""The stage-wise diagnostics section of the leaderboard (``diagnostics.csv`` of a results folder).

One table per dataset and test set: a row per method and parameter set, a column per
(stage, measure), each cell the mean over seeds of the per-seed means over test images,
with the range over seeds when there are several (``0.612 (0.580–0.640, 3 seeds)``).
Stages, in the order a reconstruction is made:

- ``shape_map`` · space id: pairwise identification of the decoded shape map against the
  true shape maps (Pearson correlation, chance 0.5);
- ``shape_map`` · as image: the decoded shape map scored as a reconstruction;
- ``semantic`` · space id: the decoded semantic vector against the true ones;
- ``final``: the reconstruction itself (the leaderboard's score, for comparison).
"""

from __future__ import annotations

import html
from typing import Iterator

import pandas as pd

from reconbench.leaderboard.render import entry_label, fmt, table_order

#: (output, measure, column title) in stage order.
COLUMNS = (
    ("shape_map", "space_identification", "shape map: identification (shape space)"),
    ("shape_map", "image/pairwise_identification", "shape map as image: pairwise id"),
    ("shape_map", "image/pixcorr", "shape map as image: PixCorr"),
    ("semantic", "space_identification", "semantic vector: identification (semantic space)"),
    ("final", "image/pairwise_identification", "final image: pairwise id"),
    ("final", "image/pixcorr", "final image: PixCorr"),
)

EXPLANATION = (
    "Where a multi-stage method loses information. Each column identifies a decoded intermediate among the test images "
    "(chance 0.5) or scores it as a reconstruction: the decoded shape map against the true shape maps of the test images "
    "(in shape space) and as a grayscale image; the decoded semantic vector against the true ones (in the method's "
    "semantic space, fitted on training images); the final image. The true values are computed by the harness from the "
    "held-out images; no test image reaches the method. Mean over seeds of the per-seed means over test images; "
    "(min–max, seeds) when there are several seeds; – where the stage does not exist or has no image-side target."
)


def _text(values: pd.Series) -> str:
    if values.empty:
        return "–"
    if len(values) == 1:
        return fmt(float(values.iloc[0]))
    return f"{fmt(float(values.mean()))} ({fmt(float(values.min()))}–{fmt(float(values.max()))}, {len(values)} seeds)"


def diagnostic_tables(frame: pd.DataFrame | None) -> Iterator[tuple[str, str, list[str], list[list[str]]]]:
    """``(dataset, test_set, header, rows of cell texts)`` per table, ordered by the final pairwise id."""
    if frame is None or frame.empty:
        return
    groups = sorted(frame.groupby(["dataset", "test_set"]), key=lambda item: table_order(*item[0]))
    for (dataset, test_set), group in groups:
        # Per seed: the mean over subjects of each measure; then over seeds in the cell text.
        per_seed = group.groupby(["method", "param_set", "seed", "output", "measure"], as_index=False)["value"].mean()
        entries = []
        for (method, param_set), rows in per_seed.groupby(["method", "param_set"], sort=True):
            cells = []
            for output, measure, _ in COLUMNS:
                cells.append(_text(rows.loc[(rows["output"] == output) & (rows["measure"] == measure), "value"]))
            final = rows.loc[(rows["output"] == "final") & (rows["measure"] == "image/pairwise_identification"), "value"]
            entries.append((-(float(final.mean()) if len(final) else 0.0), entry_label(str(method), str(param_set), "method"), cells))
        entries.sort()
        yield str(dataset), str(test_set), ["method", *(title for _, _, title in COLUMNS)], [[name, *cells] for _, name, cells in entries]


def diagnostics_markdown(frame: pd.DataFrame | None) -> list[str]:
    """Markdown lines of the section (none without diagnostics)."""
    lines: list[str] = []
    for dataset, test_set, header, rows in diagnostic_tables(frame):
        if not lines:
            lines += ["## Stage-wise diagnostics", "", EXPLANATION, ""]
        lines += [f"### {dataset} · {test_set}", "", "| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return lines


def diagnostics_html(frame: pd.DataFrame | None) -> list[str]:
    """HTML fragments of the section (none without diagnostics)."""
    parts: list[str] = []
    for dataset, test_set, header, rows in diagnostic_tables(frame):
        if not parts:
            parts += ['<h2 id="stage-diagnostics">Stage-wise diagnostics</h2>', f'<p class="note">{html.escape(EXPLANATION)}</p>']
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        parts.append(f"<h3>{html.escape(dataset)} · {html.escape(test_set)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return parts
