"""Score-versus-setting curves of scenario sweeps (``reconbench sweep``).

A sweep point is a dataset named ``<base>@<knob>=<value>`` (see
:mod:`reconbench.core.names`). Leaderboard rows of points that share the base
dataset, the knob and the test set form one sweep: per metric, one line per
entry (method and parameter set, reference rows dashed) through its means at
each value, with the 95% bootstrap interval as a vertical bar, and chance as a
grey dashed line. The Markdown page gets the same numbers as a table (ranking
metric only); the CSV already holds every point's rows.
"""

from __future__ import annotations

import math
from typing import Iterator, Mapping

import pandas as pd

from reconbench.core.errors import ReconbenchError
from reconbench.core.names import split_settings_text
from reconbench.core.types import RowNote
from reconbench.leaderboard.render import entry_label, esc, fmt, metrics_of
from reconbench.leaderboard.tables import ranking_metric

#: Line colours, one per entry in turn (colour-blind-safe qualitative palette, then greys).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#8c564b", "#7f7f7f", "#bcbd22")


def sweep_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of sweep points that vary one knob, with ``base``, ``knob`` and ``value`` columns added."""
    columns = list(summary.columns) + ["base", "knob", "value", "label"]
    points = []
    for dataset in summary["dataset"].unique() if not summary.empty else []:
        try:
            base, pairs = split_settings_text(str(dataset))
        except ReconbenchError:
            continue
        if len(pairs) == 1:
            points.append((str(dataset), base, *pairs[0]))
    # A knob with text values (test_categories=seen|unseen) is plotted at positions 0, 1, ... in sorted order.
    text_values: dict[tuple[str, str], list[str]] = {}
    for _, base, knob, text in points:
        if not _is_number(text):
            text_values.setdefault((base, knob), []).append(text)
    found = []
    for dataset, base, knob, text in points:
        if (base, knob) in text_values and _is_number(text):
            continue  # a knob's values must all be numbers or all be text
        value = float(text) if _is_number(text) else float(sorted(set(text_values[(base, knob)])).index(text))
        part = summary[summary["dataset"] == dataset].copy()
        part["base"], part["knob"], part["value"], part["label"] = base, knob, value, text if not _is_number(text) else f"{float(text):g}"
        found.append(part)
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def log_axis(values: list[float]) -> bool:
    """Whether sorted axis values are plotted on a log scale: all above 0, the largest at least 4 times the smallest."""
    return bool(values) and values[0] > 0 and values[-1] / values[0] >= 4


def _labels(rows: pd.DataFrame) -> dict[float, str]:
    """Value -> its text on the axis and in tables."""
    return {float(v): str(label) for v, label in zip(rows["value"], rows["label"])}


def sweeps(summary: pd.DataFrame) -> Iterator[tuple[str, str, str, pd.DataFrame]]:
    """(base dataset, knob, test set, rows) of every sweep with at least two values, sorted."""
    rows = sweep_rows(summary)
    if rows.empty:
        return
    for (base, knob, test_set), group in rows.groupby(["base", "knob", "test_set"], sort=True):
        if group["value"].nunique() >= 2:
            yield str(base), str(knob), str(test_set), group


def _entries(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Entries in a stable order: methods (by name), then oracles and references; chance and literature excluded."""
    order = {"method": 0, "oracle": 1, "reference": 2}
    keys = {(r.method, r.param_set, r.kind) for r in rows.itertuples() if r.kind in order}
    return sorted(keys, key=lambda k: (order[k[2]], k[0], k[1]))


def colours_of(rows: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """One colour per entry of a sweep, the same in every metric's plot."""
    return {entry: PALETTE[i % len(PALETTE)] for i, entry in enumerate(_entries(rows))}


def sweep_plot(
    rows: pd.DataFrame,
    metric: str,
    knob: str,
    notes: Mapping[str, RowNote] | None = None,
    width: int = 560,
    colours: Mapping[tuple[str, str, str], str] | None = None,
) -> str:
    """An SVG of ``metric`` against the knob's value: one line per entry with 95% intervals, chance dashed.

    ``colours`` (entry -> colour, default :func:`colours_of` the rows) keeps an entry's colour across plots.
    """
    colours = colours_of(rows) if colours is None else colours
    metric_rows = rows[rows["metric"] == metric]
    if metric_rows.empty:
        return ""
    values = sorted(metric_rows["value"].unique())
    labels = _labels(metric_rows)
    numeric = all(_is_number(labels[v]) for v in values)
    log = numeric and log_axis(values)
    chance = metric_rows.loc[metric_rows["kind"] == "chance"].groupby("value")["mean"].first()
    plotted = metric_rows[metric_rows["kind"].isin(["method", "oracle", "reference"])]
    ys = [v for col in ("mean", "ci_low", "ci_high") for v in plotted[col] if not pd.isna(v)] + list(chance)
    if not ys:
        return ""
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    entries = _entries(plotted)
    left, right, top, bottom = 48, 230, 10, 36
    plot_w, plot_h = width - left - right, 220
    height = max(top + plot_h + bottom, top + 16 * len(entries) + 10)

    def sx(v: float) -> float:
        a, b = (math.log(values[0]), math.log(values[-1])) if log else (values[0], values[-1])
        t = ((math.log(v) if log else v) - a) / (b - a)
        return left + t * plot_w

    def sy(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    higher = bool(metric_rows["higher_is_better"].iloc[0])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(metric)} against {esc(knob)}, one line per method" font-family="sans-serif" font-size="11">'
    ]
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" stroke="#ddd"/>')
    for tick in (lo + pad, (lo + hi) / 2, hi - pad):
        parts.append(f'<text x="{left - 4}" y="{sy(tick) + 4:.1f}" text-anchor="end" fill="#555">{fmt(tick, 2)}</text>')
    for v in values:
        parts.append(f'<line x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#999"/>')
        parts.append(f'<text x="{sx(v):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#555">{esc(labels[v])}</text>')
    scale = "log scale" if log else "linear" if numeric else "categories"
    axis_note = f"{knob} ({scale}); {'higher is better ↑' if higher else 'lower is better ↓'}"
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 31}" text-anchor="middle" fill="#333">{esc(axis_note)}</text>')
    if len(chance) and chance.nunique() == 1:
        y = sy(float(chance.iloc[0]))
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#999" stroke-dasharray="4 3">'
            f"<title>chance {fmt(float(chance.iloc[0]))}</title></line>"
        )
    for i, (method, param_set, kind) in enumerate(entries):
        colour = colours.get((method, param_set, kind), PALETTE[i % len(PALETTE)])
        dash = "" if kind == "method" else ' stroke-dasharray="6 3"'
        line = plotted[(plotted["method"] == method) & (plotted["param_set"] == param_set) & (plotted["kind"] == kind)].sort_values("value")
        line = line[line["mean"].notna()]
        label = entry_label(method, param_set, kind, notes).replace("**", "")
        if len(line) >= 2:
            points = " ".join(f"{sx(r.value):.1f},{sy(r.mean):.1f}" for r in line.itertuples())
            parts.append(f'<polyline class="entry" points="{points}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>')
        for r in line.itertuples():
            if not pd.isna(r.ci_low) and not pd.isna(r.ci_high):
                parts.append(
                    f'<line x1="{sx(r.value):.1f}" x2="{sx(r.value):.1f}" y1="{sy(r.ci_low):.1f}" y2="{sy(r.ci_high):.1f}" '
                    f'stroke="{colour}" stroke-width="1" opacity="0.7"/>'
                )
            parts.append(
                f'<circle cx="{sx(r.value):.1f}" cy="{sy(r.mean):.1f}" r="3" fill="{colour}">'
                f"<title>{esc(label)}, {esc(knob)}={esc(labels[r.value])}: {fmt(r.mean)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}]</title></circle>"
            )
        ly = top + 16 * i + 8
        parts.append(f'<line x1="{width - right + 10}" x2="{width - right + 30}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>')
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(f'<text x="{width - right + 34}" y="{ly + 4}" fill="#222">{esc(short)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cell(row: pd.Series | None) -> str:
    if row is None or pd.isna(row["mean"]):
        return "–"
    if pd.isna(row["ci_low"]):
        return fmt(row["mean"])
    return f"{fmt(row['mean'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def sweep_markdown(summary: pd.DataFrame, notes: Mapping[str, RowNote] | None = None) -> list[str]:
    """Markdown lines: per sweep, the ranking metric's mean [95% interval] per entry (rows) and value (columns)."""
    lines: list[str] = []
    for base, knob, test_set, rows in sweeps(summary):
        metric = ranking_metric(metrics_of(rows))
        values = sorted(rows["value"].unique())
        labels = _labels(rows)
        lines += [
            f"## Sweep: {base} · {knob} · {test_set}",
            "",
            f"{metric} (mean [95% interval]) at each value of {knob}; one dataset per value, named {base}@{knob}=VALUE.",
            "",
        ]
        lines.append("| entry | " + " | ".join(f"{knob}={labels[v]}" for v in values) + " |")
        lines.append("|:---|" + "---:|" * len(values))
        metric_rows = rows[rows["metric"] == metric]
        for method, param_set, kind in _entries(metric_rows):
            sub = metric_rows[(metric_rows["method"] == method) & (metric_rows["param_set"] == param_set) & (metric_rows["kind"] == kind)]
            by_value = {r["value"]: r for _, r in sub.iterrows()}
            cells = [entry_label(method, param_set, kind, notes)] + [_cell(by_value.get(v)) for v in values]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        chance = metric_rows.loc[metric_rows["kind"] == "chance", "mean"]
        if len(chance):
            lines += ["", f"Chance: {fmt(float(chance.iloc[0]))}."]
        lines.append("")
    return lines


def sweep_html(summary: pd.DataFrame, notes: Mapping[str, RowNote] | None = None) -> list[str]:
    """HTML parts: per sweep, one score-versus-setting plot per metric."""
    body: list[str] = []
    for base, knob, test_set, rows in sweeps(summary):
        body.append(f'<h2 id="sweep-{esc(base)}-{esc(knob)}-{esc(test_set)}">Sweep: {esc(base)} · {esc(knob)} · {esc(test_set)}</h2>')
        body.append(
            f'<p class="note">Mean and 95% bootstrap interval of every entry at each value of {esc(knob)} '
            f'(one simulated dataset per value; reference rows dashed; chance grey dashed).</p><div class="plots">'
        )
        colours = colours_of(rows)
        for metric in metrics_of(rows):
            body.append(f"<figure><figcaption>{esc(metric)}</figcaption>{sweep_plot(rows, metric, knob, notes, colours=colours)}</figure>")
        body.append("</div>")
    return body
