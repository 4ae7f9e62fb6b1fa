"""Paired differences between two entries, per dataset and test set (``reconbench contrast``).

An *entry* is a method and a parameter set, written ``method`` or
``method:param_set`` (parameter set ``default`` when omitted), as ``--methods``
spells it. For a pair (A, B), one metric and each test set, every dataset of
the rows gives one contrast row, computed as the leaderboard computes its
tables (:mod:`reconbench.leaderboard.tables`):

- **Units**: a test image of a subject. Each entry's per-image scores (rows with
  status ``ok``) are averaged over its seeds, giving one value per (subject,
  stimulus id); the contrast uses the units both entries have, with a score
  (not NaN) for both.
- **Difference**: the mean over those units of A − B, with a bootstrap 95%
  interval of the per-unit differences (``bootstrap_ci``, 10,000 resamples,
  seed 0) and the two-sided paired permutation p (``paired_permutation_test``,
  10,000 sign flips or all of them, seed 0; none with a single unit).
- **Better**: the entry whose mean is better in the metric's direction (for a
  lower-is-better metric such as lpips, a negative difference favours A).
- **Seeds**: with several seeds common to both entries, the mean difference per
  seed, each over the units both have at that seed, as its minimum and maximum.
- **Sweep points**: a dataset named ``<base>@<knob>=<value>`` gets its knob and
  value (:mod:`reconbench.core.names`); other datasets (e.g. the plain preset
  ``simulated:default``) are kept as rows of their own, without a knob.

The HTML page plots A − B against the knob's value, one plot per test set and
sweep, every pair in its own colour, as :mod:`reconbench.leaderboard.sweep`
draws score-versus-setting curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from reconbench.core import atomic
from reconbench.core.errors import ReconbenchError
from reconbench.core.names import check_name, split_settings_text
from reconbench.leaderboard.html import CSS
from reconbench.leaderboard.render import ARROW, esc, fmt, table_order
from reconbench.leaderboard.sweep import PALETTE, log_axis
from reconbench.leaderboard.tables import ALPHA, N_BOOT, N_PERM, _unit_values, metric_order, ranking_metric
from reconbench.metrics.stats import bootstrap_ci, paired_permutation_test

#: The parameter set of an entry written without one.
DEFAULT_PARAM_SET = "default"

CONTRAST_COLUMNS = [
    "entry_a",
    "entry_b",
    "metric",
    "higher_is_better",
    "test_set",
    "dataset",
    "base",
    "knob",
    "value",
    "label",
    "n_units",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "p",
    "better",
    "n_seeds",
    "seed_min",
    "seed_max",
]


class ContrastError(ReconbenchError):
    """A contrast cannot be computed: an entry, metric or test set is absent, or the two entries share no unit."""


@dataclass(frozen=True)
class Entry:
    """A method and one of its parameter sets."""

    method: str
    param_set: str = DEFAULT_PARAM_SET

    @property
    def name(self) -> str:
        """``method:param_set``."""
        return f"{self.method}:{self.param_set}"


def parse_entry(text: str) -> Entry:
    """``"method"`` or ``"method:param_set"`` -> :class:`Entry` (parameter set ``default`` when omitted)."""
    method, colon, param_set = text.strip().partition(":")
    if colon and not param_set:
        raise ContrastError(f"entry {text!r}: expected METHOD or METHOD:PARAM_SET, got an empty parameter set")
    check_name("method", method, where=f"entry {text!r}")
    if colon:
        check_name("parameter set", param_set, where=f"entry {text!r}")
    return Entry(method, param_set or DEFAULT_PARAM_SET)


def parse_pair(text: str) -> tuple[Entry, Entry]:
    """``"A,B"`` -> the two entries (each as :func:`parse_entry` reads it); they must differ."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ContrastError(f"--pair {text!r}: expected two entries A,B (each METHOD or METHOD:PARAM_SET)")
    a, b = parse_entry(parts[0]), parse_entry(parts[1])
    if a == b:
        raise ContrastError(f"--pair {text!r}: both entries are {a.name}; name two different entries")
    return a, b


def sweep_point(dataset: str) -> tuple[str, str, str]:
    """``(base, knob, value text)`` of a dataset named ``<base>@<knob>=<value>``; ``(dataset, "", "")`` for any other name."""
    try:
        base, pairs = split_settings_text(dataset)
    except ReconbenchError:
        return dataset, "", ""
    if len(pairs) != 1:
        return dataset, "", ""
    return base, pairs[0][0], pairs[0][1]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _entries_of(rows: pd.DataFrame) -> list[str]:
    return sorted({f"{m}:{p}" for m, p in zip(rows["method"], rows["param_set"])})


def _select(rows: pd.DataFrame, entry: Entry) -> pd.DataFrame:
    return rows[(rows["method"] == entry.method) & (rows["param_set"] == entry.param_set)]


def usable_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a contrast reads: status ``ok`` and a metric named."""
    return rows[(rows["status"] == "ok") & (rows["metric"] != "")]


def default_metric(rows: pd.DataFrame) -> str:
    """The leaderboard's ranking metric among the usable rows (:func:`~reconbench.leaderboard.tables.ranking_metric`)."""
    return ranking_metric(metric_order(usable_rows(rows)))


def contrast(
    rows: pd.DataFrame,
    a: Entry,
    b: Entry,
    *,
    metric: str | None = None,
    test_set: str | None = None,
    n_boot: int = N_BOOT,
    n_perm: int = N_PERM,
) -> pd.DataFrame:
    """The paired difference A − B per test set and dataset (see the module docstring).

    Parameters
    ----------
    rows : DataFrame
        Result rows (:data:`reconbench.store.results.COLUMNS`).
    a, b : Entry
    metric : str, optional
        Default: the leaderboard's ranking metric (:func:`default_metric`).
    test_set : str, optional
        Only this test set; default: every test set of the rows.
    n_boot, n_perm : int
        Bootstrap resamples and permutations (default: the leaderboard's).

    Returns
    -------
    DataFrame with :data:`CONTRAST_COLUMNS`, one row per (test set, dataset) where the
    two entries share a unit; test sets in the order of ``TEST_SETS``, then the datasets
    that are no sweep point, then sweep points by base, knob and value.

    Raises
    ------
    ContrastError
        An entry, the metric or the test set is absent from the rows, or the two entries share no unit.
    """
    ok = usable_rows(rows)
    present = _entries_of(ok)
    for entry in (a, b):
        if _select(ok, entry).empty:
            raise ContrastError(f"entry {entry.name} is not in the results; entries: {', '.join(present) or 'none'}")
    metric = default_metric(ok) if metric is None else metric
    metrics = metric_order(ok)
    if metric not in metrics:
        raise ContrastError(f"metric {metric!r} is not in the results; metrics: {', '.join(metrics)}")
    ok = ok[ok["metric"] == metric]
    if test_set is not None:
        test_sets = sorted(set(ok["test_set"]))
        if test_set not in test_sets:
            raise ContrastError(f"test set {test_set!r} is not in the results for {metric}; test sets: {', '.join(test_sets)}")
        ok = ok[ok["test_set"] == test_set]
    higher = bool(ok["higher_is_better"].iloc[0])
    rows_a, rows_b = _select(ok, a), _select(ok, b)
    for entry, part in ((a, rows_a), (b, rows_b)):
        if part.empty:
            where = f" on test set {test_set}" if test_set is not None else ""
            raise ContrastError(f"entry {entry.name} has no {metric} scores{where}")
    out = []
    groups_b = dict(iter(rows_b.groupby(["test_set", "dataset"], sort=True)))
    for (ts, dataset), group_a in rows_a.groupby(["test_set", "dataset"], sort=True):
        group_b = groups_b.get((ts, dataset))
        if group_b is None:
            continue
        units_a, units_b = _unit_values(group_a).align(_unit_values(group_b), join="inner")
        both = units_a.notna() & units_b.notna()
        units_a, units_b = units_a[both], units_b[both]
        if units_a.empty:
            continue
        differences = (units_a - units_b).to_numpy()
        mean_difference, low, high = bootstrap_ci(differences, level=0.95, n_boot=n_boot, seed=0)
        p = float(paired_permutation_test(units_a.to_numpy(), units_b.to_numpy(), n_perm=n_perm, seed=0)) if len(differences) >= 2 else float("nan")
        seed_differences = _seed_differences(group_a, group_b, units_a.index)
        base, knob, text = sweep_point(str(dataset))
        signed = mean_difference if higher else -mean_difference
        out.append(
            {
                "entry_a": a.name,
                "entry_b": b.name,
                "metric": metric,
                "higher_is_better": higher,
                "test_set": ts,
                "dataset": dataset,
                "base": base,
                "knob": knob,
                "value": _number(text) if knob else float("nan"),
                "label": text,
                "n_units": len(differences),
                "mean_a": float(units_a.mean()),
                "mean_b": float(units_b.mean()),
                "difference": mean_difference,
                "ci_low": low,
                "ci_high": high,
                "p": p,
                "better": a.name if signed > 0 else b.name if signed < 0 else "",
                "n_seeds": len(seed_differences),
                "seed_min": min(seed_differences) if len(seed_differences) >= 2 else float("nan"),
                "seed_max": max(seed_differences) if len(seed_differences) >= 2 else float("nan"),
            }
        )
    if not out:
        where = f" on test set {test_set}" if test_set is not None else ""
        raise ContrastError(f"{a.name} and {b.name} share no test image with a {metric} score for both{where} (no dataset, subject and stimulus in common)")
    frame = pd.DataFrame(out, columns=CONTRAST_COLUMNS)
    return frame.iloc[sorted(range(len(frame)), key=lambda i: _row_order(frame.iloc[i]))].reset_index(drop=True)


def _seed_differences(group_a: pd.DataFrame, group_b: pd.DataFrame, units: pd.Index) -> list[float]:
    """Per seed both entries ran: the mean of A − B over ``units`` that both have (a score) at that seed."""
    differences = []
    seeds_b = dict(iter(group_b.groupby("seed", sort=True)))
    for seed, seed_a in group_a.groupby("seed", sort=True):
        if seed not in seeds_b:
            continue
        values_a = seed_a.set_index(["subject", "stimulus_id"])["value"]
        values_b = seeds_b[seed].set_index(["subject", "stimulus_id"])["value"]
        paired = pd.DataFrame({"a": values_a.reindex(units), "b": values_b.reindex(units)}).dropna()
        if len(paired):
            differences.append(float((paired["a"] - paired["b"]).mean()))
    return differences


def _row_order(row: pd.Series) -> tuple:
    value = row["value"]
    return (
        *table_order("", row["test_set"])[1:],
        bool(row["knob"]),
        row["base"],
        row["knob"],
        math.isnan(value),
        0.0 if math.isnan(value) else value,
        row["label"],
        row["dataset"],
    )


def contrasts(
    rows: pd.DataFrame,
    pairs: Sequence[tuple[Entry, Entry]],
    *,
    metric: str | None = None,
    test_set: str | None = None,
    n_boot: int = N_BOOT,
    n_perm: int = N_PERM,
) -> pd.DataFrame:
    """:func:`contrast` of every pair, in the order given, on one metric (default: the ranking metric of all the rows)."""
    metric = default_metric(rows) if metric is None else metric
    parts = [contrast(rows, a, b, metric=metric, test_set=test_set, n_boot=n_boot, n_perm=n_perm) for a, b in pairs]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CONTRAST_COLUMNS)


# --- text -----------------------------------------------------------------------------------------


def _signed(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:+.3f}"


def _p_text(p: float) -> str:
    return "–" if pd.isna(p) else f"{p:.4f}"


def _better_text(row: pd.Series) -> str:
    if not row["better"]:
        return "neither"
    return row["better"] + (" (n.s.)" if not pd.isna(row["p"]) and row["p"] >= ALPHA else "")


def _seeds_text(row: pd.Series) -> str:
    if pd.isna(row["seed_min"]):
        return "–"
    return f"{_signed(row['seed_min'])}..{_signed(row['seed_max'])} ({int(row['n_seeds'])} seeds)"


def _row_labels(rows: pd.DataFrame) -> list[str]:
    """``knob=value`` for sweep points when the table's sweep points share one base, else the dataset's name."""
    bases = set(rows.loc[rows["knob"] != "", "base"])
    return [f"{r.knob}={r.label}" if r.knob and len(bases) == 1 else str(r.dataset) for r in rows.itertuples()]


def _tables(table: pd.DataFrame):
    """``(entry_a, entry_b, test_set, rows)`` per pair (in the table's order) and test set."""
    seen: dict[tuple[str, str, str], None] = {}
    for key in zip(table["entry_a"], table["entry_b"], table["test_set"]):
        seen.setdefault(key, None)
    for a, b, ts in seen:
        yield a, b, ts, table[(table["entry_a"] == a) & (table["entry_b"] == b) & (table["test_set"] == ts)]


TABLE_HEADER = ["dataset", "n", "mean A", "mean B", "A − B [95% interval]", "p", "better", "seeds (min..max of A − B)"]


def _cells(rows: pd.DataFrame) -> list[list[str]]:
    return [
        [label, str(int(r["n_units"])), fmt(r["mean_a"]), fmt(r["mean_b"]), f"{_signed(r['difference'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}]"]
        + [_p_text(r["p"]), _better_text(r), _seeds_text(r)]
        for label, (_, r) in zip(_row_labels(rows), rows.iterrows())
    ]


def legend_text() -> str:
    """What the columns mean."""
    return (
        "Paired difference A − B over the test images (subject, stimulus) both entries have, each image's score averaged over seeds first; "
        "mean A and mean B over the same images; 95% bootstrap interval of the per-image differences; p: two-sided paired permutation test; "
        f"better: the entry with the better mean in the metric's direction, (n.s.) when p ≥ {ALPHA:g} (uncorrected); "
        "seeds: the lowest and highest per-seed mean difference, when both entries ran several seeds."
    )


def contrasts_markdown(table: pd.DataFrame, title: str = "reconbench contrasts") -> str:
    """Markdown: the legend, then one table per pair and test set (rows: datasets or sweep values)."""
    lines = [f"# {title}", "", legend_text(), ""]
    for a, b, ts, rows in _tables(table):
        metric = rows["metric"].iloc[0]
        lines += [f"## {a} − {b} · {ts}", "", f"A = {a}, B = {b}; {metric} {ARROW[bool(rows['higher_is_better'].iloc[0])]}.", ""]
        lines.append("| " + " | ".join(TABLE_HEADER) + " |")
        lines.append("|:---|" + "---:|" * 5 + ":---|---:|")
        for cells in _cells(rows):
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def to_csv(table: pd.DataFrame) -> str:
    """The contrast rows as CSV text (stable float formatting)."""
    return table.to_csv(index=False, float_format="%.6g", lineterminator="\n")


# --- plot -----------------------------------------------------------------------------------------


def _axes(table: pd.DataFrame):
    """``(test_set, base, knob, rows)`` per plot: per test set, one per sweep (base and knob), and one for the other datasets."""
    order = {ts: table_order("", ts) for ts in table["test_set"]}
    for ts in sorted(set(table["test_set"]), key=order.__getitem__):
        rows = table[table["test_set"] == ts]
        plain = rows[rows["knob"] == ""]
        if len(plain):
            yield ts, "", "", plain
        sweeping = rows[rows["knob"] != ""]
        for (base, knob), group in sweeping.groupby(["base", "knob"], sort=True):
            yield ts, str(base), str(knob), group


def contrast_plot(rows: pd.DataFrame, knob: str, colours: dict[tuple[str, str], str], width: int = 560) -> str:
    """An SVG of A − B against the knob's value, or per dataset when ``knob`` is empty: a point with its 95% interval
    per pair and value, pairs joined by lines along a knob, a dashed line at zero.

    The x axis is logarithmic under the rule of the sweep plots (every value > 0, the largest at least 4 times the
    smallest), else linear; text values and datasets are evenly spaced categories.
    """
    if rows.empty:
        return ""
    numeric = bool(knob) and bool(rows["value"].notna().all())
    if numeric:
        keys = sorted(set(rows["value"]))
        labels = {v: f"{v:g}" for v in keys}
        key_of = list(rows["value"])
    else:
        key_of = list(rows["label"] if knob else rows["dataset"])
        keys = sorted(set(key_of))
        labels = {k: str(k) for k in keys}
    log = numeric and log_axis(keys)
    ys = [0.0] + [v for col in ("difference", "ci_low", "ci_high") for v in rows[col] if not pd.isna(v)]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    pairs = list(dict.fromkeys(zip(rows["entry_a"], rows["entry_b"])))
    left, right, top, bottom = 56, 20, 10, 36
    plot_w, plot_h = width - left - right, 220
    inset = 12  # keeps the end points, shifted apart per pair, inside the frame
    height = top + plot_h + bottom + 16 * len(pairs) + 8

    def sx(key) -> float:
        if numeric and len(keys) >= 2:
            a, b = (math.log(keys[0]), math.log(keys[-1])) if log else (keys[0], keys[-1])
            t = ((math.log(key) if log else key) - a) / (b - a)
        else:
            t = (keys.index(key) + 0.5) / len(keys)
        return left + inset + t * (plot_w - 2 * inset)

    def sy(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    metric = str(rows["metric"].iloc[0])
    higher = bool(rows["higher_is_better"].iloc[0])
    what = knob or "dataset"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(metric)} difference A − B against {esc(what)}, one line per pair" font-family="sans-serif" font-size="11">'
    ]
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" stroke="#ddd"/>')
    # Zero and the ends of the data; an end within 12 px of zero would overprint it.
    ticks = [0.0] + [t for t in (lo + pad, hi - pad) if abs(sy(t) - sy(0.0)) >= 12]
    for tick in ticks:
        parts.append(f'<text x="{left - 4}" y="{sy(tick) + 4:.1f}" text-anchor="end" fill="#555">{_signed(tick)}</text>')
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(0.0):.1f}" y2="{sy(0.0):.1f}" stroke="#999" stroke-dasharray="4 3"><title>no difference</title></line>'
    )
    for key in keys:
        parts.append(f'<line x1="{sx(key):.1f}" x2="{sx(key):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#999"/>')
        parts.append(f'<text x="{sx(key):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#555">{esc(labels[key])}</text>')
    scale = ("log scale" if log else "linear") if numeric else "categories"
    favour = "above zero: A better" if higher else "below zero: A better (lower is better)"
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 31}" text-anchor="middle" fill="#333">{esc(f"{what} ({scale}); {favour}")}</text>')
    for i, (a, b) in enumerate(pairs):
        colour = colours.get((a, b), PALETTE[i % len(PALETTE)])
        shift = (i - (len(pairs) - 1) / 2) * 5.0
        mask = [(x == a and y == b) for x, y in zip(rows["entry_a"], rows["entry_b"])]
        points = sorted(((key_of[j], rows.iloc[j]) for j in range(len(rows)) if mask[j]), key=lambda kv: keys.index(kv[0]))
        if knob and len(points) >= 2:
            line = " ".join(f"{sx(k) + shift:.1f},{sy(r['difference']):.1f}" for k, r in points)
            parts.append(f'<polyline class="pair" points="{line}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        for key, r in points:
            x = sx(key) + shift
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{sy(r["ci_low"]):.1f}" y2="{sy(r["ci_high"]):.1f}" stroke="{colour}" stroke-width="1.2" opacity="0.8"/>'
            )
            tip = f"{a} − {b}, {what}={labels[key]}: {_signed(r['difference'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}], p {_p_text(r['p'])}, n {int(r['n_units'])}"
            parts.append(f'<circle cx="{x:.1f}" cy="{sy(r["difference"]):.1f}" r="3" fill="{colour}"><title>{esc(tip)}</title></circle>')
        ly = top + plot_h + bottom + 16 * i + 8
        parts.append(f'<line x1="{left}" x2="{left + 20}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{left + 26}" y="{ly + 4}" fill="#222">{esc(f"{a} − {b}")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(rows: pd.DataFrame) -> str:
    head = "".join(f'<th class="name">{esc(h)}</th>' if i == 0 else f"<th>{esc(h)}</th>" for i, h in enumerate(TABLE_HEADER))
    body = "".join(
        "<tr>" + "".join(f'<td class="name">{esc(c)}</td>' if i == 0 else f"<td>{esc(c)}</td>" for i, c in enumerate(cells)) + "</tr>" for cells in _cells(rows)
    )
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def contrasts_html(table: pd.DataFrame, title: str = "reconbench contrasts") -> str:
    """One self-contained HTML page: per test set and sweep, a plot of every pair's A − B; then the tables."""
    colours = {pair: PALETTE[i % len(PALETTE)] for i, pair in enumerate(dict.fromkeys(zip(table["entry_a"], table["entry_b"])))}
    body = [f"<h1>{esc(title)}</h1>", f'<p class="note">{esc(legend_text())}</p>']
    if not table.empty:
        metric = str(table["metric"].iloc[0])
        body.append(f'<h2>Differences against the setting</h2><p class="note">{esc(metric)}: A − B with its 95% interval; dashed: no difference.</p>')
        body.append('<div class="plots">')
        for ts, base, knob, rows in _axes(table):
            caption = f"{ts} · {base} · {knob}" if knob else f"{ts} · datasets"
            body.append(f"<figure><figcaption>{esc(caption)}</figcaption>{contrast_plot(rows, knob, colours)}</figure>")
        body.append("</div>")
    for a, b, ts, rows in _tables(table):
        metric = str(rows["metric"].iloc[0])
        body.append(f"<h2>{esc(a)} − {esc(b)} · {esc(ts)}</h2>")
        body.append(f'<p class="note">A = {esc(a)}, B = {esc(b)}; {esc(metric)} {ARROW[bool(rows["higher_is_better"].iloc[0])]}.</p>')
        body.append(_html_table(rows))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_contrasts(table: pd.DataFrame, out: str | Path, title: str = "reconbench contrasts") -> Path:
    """Write ``contrasts.csv``, ``contrasts.md`` and ``contrasts.html`` into ``out`` (each atomically); return ``out``."""
    out = Path(out)
    atomic.write_text(out / "contrasts.csv", to_csv(table))
    atomic.write_text(out / "contrasts.md", contrasts_markdown(table, title))
    atomic.write_text(out / "contrasts.html", contrasts_html(table, title))
    return out


__all__ = [
    "CONTRAST_COLUMNS",
    "ContrastError",
    "Entry",
    "contrast",
    "contrast_plot",
    "contrasts",
    "contrasts_html",
    "contrasts_markdown",
    "parse_entry",
    "parse_pair",
    "write_contrasts",
]
