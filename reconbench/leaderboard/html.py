"""The leaderboard as one self-contained HTML page.

Inline CSS, no scripts, images as ``data:`` URIs and plots as inline SVG drawn
here (no plotting library), so the page can be mailed or committed as one file.
Per dataset and test set: the table, one interval plot per metric (mean and
95% interval of every entry, chance as a dashed line) and a grid of
reconstructions (first row the true images, then one row per method).
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from reconbench.core.types import RowNote
from reconbench.leaderboard.diagnostics import diagnostics_html
from reconbench.leaderboard.render import (
    ARROW,
    describe,
    entries,
    entry_label,
    esc,
    fmt,
    legend,
    metrics_of,
    seed_range_text,
    tables,
)
from reconbench.leaderboard.sweep import sweep_html
from reconbench.leaderboard.tables import ranking_metric
from reconbench.store.results import reconstruction_dir

#: Test images shown per grid.
GRID_IMAGES = 8
GRID_CELL_PX = 64

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
p.note { color: #555; font-size: 0.9em; max-width: 70em; }
table.board { border-collapse: collapse; font-size: 0.88em; margin: 8px 0; }
table.board th, table.board td { padding: 4px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
table.board th { background: #f3f5f7; border-bottom: 2px solid #c9cfd6; }
table.board td.name, table.board th.name { text-align: left; white-space: normal; min-width: 14em; max-width: 26em; }
table.board tr.oracle td, table.board tr.reference td, table.board tr.chance td { color: #666; background: #fafafa; font-style: italic; }
table.board tr.literature td { color: #6a4b00; background: #fffaf0; font-style: italic; }
table.board td.best { font-weight: 700; background: #e6f4ea; }
table.board span.ci { font-size: 0.82em; color: #666; font-weight: 400; }
table.board td.tied { background: #f1f8f3; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
.plots figure { margin: 0; border: 1px solid #e4e4e4; padding: 6px; }
.plots figcaption { font-size: 0.85em; font-weight: 600; }
table.grid { border-collapse: collapse; margin-top: 6px; }
table.grid td { padding: 1px; }
table.grid th { font-size: 0.78em; text-align: right; padding-right: 6px; font-weight: 500; white-space: nowrap; }
table.grid img { width: %(px)dpx; height: %(px)dpx; image-rendering: pixelated; display: block; }
footer { margin-top: 3em; font-size: 0.8em; color: #777; }
""" % {"px": GRID_CELL_PX}

KIND_COLOUR = {"method": "#1f5fa8", "oracle": "#8a8a8a", "reference": "#b5651d", "literature": "#6a4b00", "chance": "#999"}


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def interval_plot(rows: pd.DataFrame, metric: str, width: int = 400) -> str:
    """An SVG of mean and 95% interval per entry for one metric; chance as a dashed line."""
    metric_rows = rows[rows["metric"] == metric]
    plotted = metric_rows[metric_rows["kind"] != "chance"]
    chance = metric_rows.loc[metric_rows["kind"] == "chance", "mean"]
    higher = bool(metric_rows["higher_is_better"].iloc[0])
    values = list(plotted["mean"]) + [v for v in plotted["ci_low"] if not math.isnan(v)] + [v for v in plotted["ci_high"] if not math.isnan(v)]
    values += list(chance)
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    label_w, row_h, top, bottom = 210, 18, 8, 26
    plot_w = width - label_w - 12
    height = top + bottom + row_h * len(plotted)

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(metric)}: mean and 95% interval per method" font-family="sans-serif" font-size="11">'
    ]
    parts.append(f'<rect x="{label_w}" y="{top}" width="{plot_w}" height="{row_h * len(plotted)}" fill="#fafbfc" stroke="#ddd"/>')
    for value in chance:
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{top}" y2="{top + row_h * len(plotted)}" '
            f'stroke="#999" stroke-dasharray="4 3"><title>chance {fmt(value)}</title></line>'
        )
    for i, (_, r) in enumerate(plotted.iterrows()):
        y = top + row_h * i + row_h / 2
        colour = KIND_COLOUR.get(r["kind"], "#333")
        name = r["method"] if not r["param_set"] or r["param_set"] == "default" else f"{r['method']} [{r['param_set']}]"
        if len(name) > 32:
            name = name[:31] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{colour}">{esc(name)}</text>')
        if not math.isnan(r["ci_low"]):
            parts.append(f'<line x1="{x(r["ci_low"]):.1f}" x2="{x(r["ci_high"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>')
        shape = "rect" if r["kind"] == "literature" else "circle"
        if shape == "circle":
            parts.append(f'<circle cx="{x(r["mean"]):.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{esc(name)}: {fmt(r["mean"])}</title></circle>')
        else:
            parts.append(f'<rect x="{x(r["mean"]) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="none" stroke="{colour}"/>')
    axis_y = top + row_h * len(plotted) + 14
    for value in (lo + pad, (lo + hi) / 2, hi - pad):
        parts.append(f'<text x="{x(value):.1f}" y="{axis_y}" text-anchor="middle" fill="#555">{fmt(value, 2)}</text>')
    parts.append(
        f'<text x="{label_w + plot_w}" y="{axis_y + 11}" text-anchor="end" fill="#555">{"higher is better →" if higher else "← lower is better"}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def reconstruction_grid(results_dir: Path, rows: pd.DataFrame, raw: pd.DataFrame, dataset: str, test_set: str) -> str:
    """HTML table of PNG thumbnails: true images, then each computed entry (first subject, lowest seed)."""
    subset = raw[(raw["dataset"] == dataset) & (raw["test_set"] == test_set) & (raw["status"] == "ok") & (raw["metric"] != "")]
    if subset.empty:
        return ""
    subject = sorted(subset["subject"].unique())[0]
    subset = subset[subset["subject"] == subject]
    stimulus_ids = sorted(subset["stimulus_id"].unique())[:GRID_IMAGES]
    true_dir = results_dir / reconstruction_dir(dataset, subject, test_set, None)
    if not all((true_dir / f"{s}.png").is_file() for s in stimulus_ids):
        return ""
    out = [
        f'<table class="grid"><caption style="caption-side:bottom;font-size:0.8em;color:#666">'
        f"{esc(subject)}, first {len(stimulus_ids)} test images by id</caption>"
    ]
    out.append(
        "<tr><th>true image</th>"
        + "".join(f'<td><img alt="true {esc(s)}" title="{esc(s)}" src="{_data_uri(true_dir / f"{s}.png")}"></td>' for s in stimulus_ids)
        + "</tr>"
    )
    for method, param_set, kind in entries(rows):
        if kind not in ("method", "oracle", "reference"):
            continue
        seeds = subset.loc[(subset["method"] == method) & (subset["param_set"] == param_set), "seed"]
        if seeds.empty:
            continue
        folder = results_dir / reconstruction_dir(dataset, subject, test_set, method, param_set, int(seeds.min()))
        if not any((folder / f"{s}.png").is_file() for s in stimulus_ids):
            continue  # rows without images (e.g. the voxel-space noise ceiling)
        cells = []
        for s in stimulus_ids:
            path = folder / f"{s}.png"
            cells.append(f'<td><img alt="{esc(method)} {esc(s)}" src="{_data_uri(path)}"></td>' if path.is_file() else "<td></td>")
        name = method if not param_set or param_set == "default" else f"{method} [{param_set}]"
        label = name if kind == "method" else f"{name} ({kind})"
        out.append(f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>")
    out.append("</table>")
    return "".join(out)


def _cell_html(row: pd.Series | None) -> str:
    """Mean (with the tie mark) above its interval in small print, to keep wide tables narrow."""
    if row is None:
        return "–"
    mark = " ≈" if row["tied_with_best"] else ""
    interval = "" if math.isnan(row["ci_low"]) else f'<br><span class="ci">[{fmt(row["ci_low"])}, {fmt(row["ci_high"])}]</span>'
    seeds = seed_range_text(row).strip()
    spread = f'<br><span class="ci">{esc(seeds)}</span>' if seeds else ""
    return f"{fmt(row['mean'])}{mark}{interval}{spread}"


def _board_table(rows: pd.DataFrame, metrics: Sequence[str], notes: Mapping[str, RowNote] | None = None) -> str:
    direction = {m: bool(rows.loc[rows["metric"] == m, "higher_is_better"].iloc[0]) for m in metrics}
    head = "".join(f"<th>{esc(m)} {ARROW[direction[m]]}</th>" for m in metrics)
    out = [f'<table class="board"><thead><tr><th>#</th><th class="name">method</th>{head}</tr></thead><tbody>']
    for method, param_set, kind in entries(rows):
        sub = rows[(rows["method"] == method) & (rows["param_set"] == param_set) & (rows["kind"] == kind)]
        by_metric = {r["metric"]: r for _, r in sub.iterrows()}
        rank = sub["rank"].iloc[0]
        rank_text = "–" if pd.isna(rank) else str(int(rank))
        cells = []
        for m in metrics:
            r = by_metric.get(m)
            css = "best" if r is not None and r["best"] else "tied" if r is not None and r["tied_with_best"] else ""
            title = "" if r is None or pd.isna(r["p_vs_best"]) else f' title="p vs best = {r["p_vs_best"]:.3g}"'
            cells.append(f'<td class="{css}"{title}>{_cell_html(r)}</td>')
        label = entry_label(method, param_set, kind, notes)
        if kind == "literature":
            label += f" — {sub['source'].iloc[0]}"
        out.append(f'<tr class="{esc(kind)}"><td>{rank_text}</td><td class="name">{esc(label)}</td>{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def to_html(
    summary: pd.DataFrame,
    raw: pd.DataFrame,
    results_dir: str | Path,
    *,
    title: str = "reconbench leaderboard",
    preamble: str = "",
    notes: Mapping[str, RowNote] | None = None,
    diagnostics: pd.DataFrame | None = None,
) -> str:
    """The whole leaderboard as one self-contained HTML page (``notes``: reference captions, see ``render.entry_label``;
    ``diagnostics``: the stage-wise diagnostics section, from a results folder's ``diagnostics.csv``)."""
    results_dir = Path(results_dir)
    body = [f"<h1>{esc(title)}</h1>"]
    if preamble:
        body.append(f'<p class="note">{esc(preamble)}</p>')
    body.append(f'<p class="note">{esc(legend(notes).replace("**Bold**", "Bold (green)"))}</p>')
    if summary.empty:
        body.append("<p>No successful results yet.</p>")
    body += sweep_html(summary, notes)
    for dataset, test_set, rows in tables(summary):
        metrics = metrics_of(rows)
        body.append(f'<h2 id="{esc(dataset)}-{esc(test_set)}">{esc(dataset)} · {esc(test_set)}</h2>')
        body.append(f'<p class="note">{esc(describe(rows))} Ranked by {esc(ranking_metric(metrics))}.</p>')
        body.append(_board_table(rows, metrics, notes))
        body.append('<h3>Per-metric means and 95% intervals</h3><div class="plots">')
        for metric in metrics:
            body.append(f"<figure><figcaption>{esc(metric)}</figcaption>{interval_plot(rows, metric)}</figure>")
        body.append("</div>")
        grid = reconstruction_grid(results_dir, rows, raw, dataset, test_set)
        if grid:
            body.append("<h3>Reconstructions</h3>" + grid)
    body += diagnostics_html(diagnostics)
    studies = sorted(results_dir.glob("*/*.html"))
    studies = [p for p in studies if p.parent.name != "leaderboard"]
    if studies:
        links = ", ".join(f'<a href="../{esc(p.relative_to(results_dir).as_posix())}">{esc(p.relative_to(results_dir).as_posix())}</a>' for p in studies)
        body.append(f'<p class="note">Studies beside this leaderboard: {links}.</p>')
    versions = sorted(set(raw.loc[raw["code_version"] != "", "code_version"])) if "code_version" in raw else []
    body.append(f"<footer>reconbench; code version(s): {esc(', '.join(versions) or 'unknown')}.</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
