"""Leaderboard rows -> Markdown and CSV text."""

from __future__ import annotations

import html
import math
from typing import Iterator, Mapping

import pandas as pd

from reconbench.core.types import TEST_SETS, RowNote
from reconbench.leaderboard.tables import ALPHA, ranking_metric

ARROW = {True: "↑", False: "↓"}
KIND_LABEL = {
    "oracle": "oracle: sees the true test images, not ranked",
    "reference": "reference, not ranked",
    "chance": "chance level",
    "literature": "literature, not computed here",
}


def esc(text: object) -> str:
    """Text escaped for HTML (attributes included)."""
    return html.escape(str(text), quote=True)


def fmt(value: float, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or an en dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    return f"{value:.{digits}f}"


def table_order(dataset: str, test_set: str) -> tuple:
    """Sort key of a (dataset, test set) table: by dataset, then test sets as in TEST_SETS, then by name."""
    return (dataset, TEST_SETS.index(test_set) if test_set in TEST_SETS else len(TEST_SETS), test_set)


def tables(summary: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """Yield ``(dataset, test_set, rows)`` in a stable order (test sets as in TEST_SETS)."""
    keys = sorted({(d, t) for d, t in zip(summary["dataset"], summary["test_set"])}, key=lambda key: table_order(*key))
    for dataset, test_set in keys:
        yield dataset, test_set, summary[(summary["dataset"] == dataset) & (summary["test_set"] == test_set)]


def entries(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Table entries ``(method, param_set, kind)`` in the order of the summary rows."""
    seen: dict[tuple[str, str, str], None] = {}
    for method, param_set, kind in zip(rows["method"], rows["param_set"], rows["kind"]):
        seen.setdefault((method, param_set, kind), None)
    return list(seen)


def metrics_of(rows: pd.DataFrame) -> list[str]:
    seen: dict[str, None] = {}
    for metric in rows["metric"]:
        seen.setdefault(metric, None)
    return list(seen)


def cell_text(row: pd.Series | None, *, markdown: bool = True) -> str:
    """``mean [low, high]`` with the best / tied marks."""
    if row is None:
        return "–"
    text = fmt(row["mean"])
    if not (isinstance(row["ci_low"], float) and math.isnan(row["ci_low"])):
        text += f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    if row["best"]:
        text = f"**{text}**" if markdown else text
    elif row["tied_with_best"]:
        text += " ≈"
    omitted = row.get("n_omitted", 0)
    if isinstance(omitted, (int, float)) and not math.isnan(omitted) and omitted > 0:
        text += f" ({int(omitted)} NaN omitted)"
    if row.get("unsealed", False) is True:
        text += " (unsealed)"
    text += seed_range_text(row)
    return text


def seed_range_text(row: pd.Series) -> str:
    """`` {seeds a–b}``: the range of the per-seed means when an entry ran several seeds, else ``""``."""
    low, high = row.get("seed_min", float("nan")), row.get("seed_max", float("nan"))
    if not isinstance(low, (int, float)) or pd.isna(low) or pd.isna(high):
        return ""
    return f" {{seeds {fmt(low)}–{fmt(high)}}}"


def entry_label(method: str, param_set: str, kind: str, notes: Mapping[str, RowNote] | None = None) -> str:
    """``method [param_set] (kind note)``; the parameter set is omitted when it is ``default``.

    ``notes`` (reference row name -> :class:`~reconbench.core.types.RowNote`)
    come from the reference plugins, through the caller: the leaderboard names none.
    """
    label = method if not param_set or param_set == "default" else f"{method} [{param_set}]"
    if kind == "chance":
        return "chance"
    if kind == "reference" and notes and method in notes:
        return f"{label} ({notes[method].caption}; reference, not ranked)"
    return f"{label} ({KIND_LABEL[kind]})" if kind in KIND_LABEL else label


def describe(rows: pd.DataFrame) -> str:
    """One line: images, subjects, seeds of the computed rows."""
    computed = rows[rows["kind"] == "method"]
    if computed.empty:
        computed = rows[rows["n_images"].notna()]
    if computed.empty:
        return ""
    n_images = int(computed["n_images"].max())
    n_subjects = int(computed["n_subjects"].max())
    low_seeds, n_seeds = int(computed["n_seeds"].min()), int(computed["n_seeds"].max())
    seeds = str(n_seeds) if low_seeds == n_seeds else f"{low_seeds}–{n_seeds}"
    text = f"{n_images} test images (over {n_subjects} subject(s)), {seeds} seed(s) per method."
    if "n_seeds" in rows and (pd.to_numeric(rows["n_seeds"], errors="coerce") > 1).any():
        text += " With several seeds, the mean and its interval are over the images' seed-averaged scores, and {seeds a–b} is the range of the per-seed means."
    return text


def legend(notes: Mapping[str, RowNote] | None = None) -> str:
    """The legend under the title; each reference row adds its own sentence (``notes``)."""
    references = "".join(f"{note.legend}; " for note in (notes or {}).values())
    return (
        "Mean over test images [bootstrap 95% interval]. ↑ higher is better, ↓ lower is better. "
        f"**Bold**: best ranked method on that metric; ≈: not significantly different from the best "
        f"(paired permutation test, p ≥ {ALPHA:g}, uncorrected). "
        "Rows marked oracle, reference, chance or literature are not ranked: oracles see the true test images; "
        f"{references}"
        "literature rows are reported numbers, not computed here."
    )


def to_markdown(
    summary: pd.DataFrame,
    *,
    title: str = "reconbench leaderboard",
    preamble: str = "",
    notes: Mapping[str, RowNote] | None = None,
    diagnostics: pd.DataFrame | None = None,
) -> str:
    """The whole leaderboard as Markdown: one table per dataset and test set (``notes``: see :func:`entry_label`),
    then the stage-wise diagnostics (``diagnostics``: a results folder's ``diagnostics.csv``), if any."""
    lines = [f"# {title}", ""]
    if preamble:
        lines += [preamble, ""]
    lines += [legend(notes), ""]
    if summary.empty:
        lines += ["No successful results yet.", ""]
    # Scenario sweeps first (score against setting), then one table per dataset (each sweep point is one).
    from reconbench.leaderboard.sweep import sweep_markdown  # here: sweep builds on this module

    lines += sweep_markdown(summary, notes)
    for dataset, test_set, rows in tables(summary):
        metrics = metrics_of(rows)
        direction = {m: bool(rows.loc[rows["metric"] == m, "higher_is_better"].iloc[0]) for m in metrics}
        lines += [f"## {dataset} · {test_set}", ""]
        lines += [f"{describe(rows)} Ranked by {ranking_metric(metrics)}.", ""]
        header = ["#", "method"] + [f"{m} {ARROW[direction[m]]}" for m in metrics]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---:", ":---"] + ["---:"] * len(metrics)) + "|")
        for method, param_set, kind in entries(rows):
            sub = rows[(rows["method"] == method) & (rows["param_set"] == param_set) & (rows["kind"] == kind)]
            by_metric = {r["metric"]: r for _, r in sub.iterrows()}
            rank = sub["rank"].iloc[0]
            rank_text = "–" if rank is pd.NA or pd.isna(rank) else str(int(rank))
            cells = [rank_text, entry_label(method, param_set, kind, notes)] + [cell_text(by_metric.get(m)) for m in metrics]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        sources = sorted({s for s in rows.loc[rows["kind"] == "literature", "source"]})
        if sources:
            lines += ["", "Literature rows: " + "; ".join(sources)]
        lines.append("")
    from reconbench.leaderboard.diagnostics import diagnostics_markdown  # here: it builds on this module

    lines += diagnostics_markdown(diagnostics)
    return "\n".join(lines)


def to_csv(summary: pd.DataFrame) -> str:
    """The leaderboard rows as CSV text (stable float formatting)."""
    return summary.to_csv(index=False, float_format="%.6g", lineterminator="\n")
