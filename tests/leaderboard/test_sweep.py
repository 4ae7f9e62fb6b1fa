"""Score-versus-setting curves: which rows form a sweep, and that the plot draws what the rows say."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.core.names import split_settings_text
from reconbench.leaderboard.render import to_markdown
from reconbench.leaderboard.sweep import sweep_html, sweep_markdown, sweep_plot, sweeps
from reconbench.leaderboard.tables import SUMMARY_COLUMNS


def _row(dataset, method, mean, low, high, kind="method", metric="pairwise_identification", test_set="natural"):
    row = dict.fromkeys(SUMMARY_COLUMNS, pd.NA)
    row.update(
        dataset=dataset,
        test_set=test_set,
        method=method,
        param_set="default",
        params_hash="h",
        kind=kind,
        metric=metric,
        higher_is_better=True,
        mean=mean,
        ci_low=low,
        ci_high=high,
        best=False,
        tied_with_best=False,
        source="",
        n_omitted=0,
        unsealed=False,
        p_vs_best=float("nan"),
        n_images=50,
        n_subjects=1,
        n_seeds=1,
    )
    return row


@pytest.fixture()
def summary() -> pd.DataFrame:
    rows = []
    for snr, a, b in [(0.01, 0.55, 0.60), (0.04, 0.70, 0.65), (0.16, 0.90, 0.70)]:
        name = f"simulated:default@snr={snr}"
        rows += [
            _row(name, "ridge", a, a - 0.05, a + 0.05),
            _row(name, "knn", b, b - 0.04, b + 0.04),
            _row(name, "chance", 0.5, float("nan"), float("nan"), kind="chance"),
        ]
    rows.append(_row("simulated:default", "ridge", 0.8, 0.7, 0.9))  # not a sweep point: no settings
    rows.append(_row("simulated:default@snr=0.01,test_reps=2", "ridge", 0.8, 0.7, 0.9))  # two knobs: no curve
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def test_the_reader_splits_names_and_rejects_malformed_ones() -> None:
    assert split_settings_text("simulated:tiny") == ("simulated:tiny", [])
    assert split_settings_text("simulated:tiny@snr=0.1,test_reps=2") == ("simulated:tiny", [("snr", "0.1"), ("test_reps", "2")])
    for bad in ("simulated:tiny@snr", "simulated:tiny@=1", "simulated:tiny@snr=", "simulated:tiny@snr=1,snr=2"):
        with pytest.raises(ReconbenchError, match="simulated:tiny@"):
            split_settings_text(bad)


def test_only_points_that_vary_one_knob_form_a_sweep(summary) -> None:
    found = list(sweeps(summary))
    assert [(base, knob, test_set) for base, knob, test_set, _ in found] == [("simulated:default", "snr", "natural")]
    assert sorted(found[0][3]["value"].unique()) == [0.01, 0.04, 0.16]


def test_the_plot_places_each_mean_where_its_value_says(summary) -> None:
    rows = next(sweeps(summary))[3]
    svg = sweep_plot(rows, "pairwise_identification", "snr")
    assert svg.count('class="entry"') == 2  # one line per method (in name order); chance is a dashed rule, not a line
    lines = {m: [tuple(map(float, p.split(","))) for p in pts.split()] for m, pts in zip(["knn", "ridge"], re.findall(r'class="entry" points="([^"]+)"', svg))}
    # x: log scale, so 0.04 lies exactly halfway between 0.01 and 0.16.
    xs = [x for x, _ in lines["ridge"]]
    assert math.isclose(xs[1] - xs[0], xs[2] - xs[1], rel_tol=1e-3)
    # y: SVG y grows downwards; a higher mean is drawn higher, and equal distances in value are equal in pixels.
    (_, y1), (_, y2), (_, y3) = lines["ridge"]
    assert y1 > y2 > y3
    assert math.isclose((y1 - y2) / (0.70 - 0.55), (y2 - y3) / (0.90 - 0.70), rel_tol=1e-2)
    assert lines["knn"][0][1] > lines["ridge"][2][1]


def test_markdown_and_html_carry_the_sweep(summary) -> None:
    text = "\n".join(sweep_markdown(summary))
    assert "## Sweep: simulated:default · snr · natural" in text
    assert "| entry | snr=0.01 | snr=0.04 | snr=0.16 |" in text
    assert "| ridge | 0.550 [0.500, 0.600] | 0.700 [0.650, 0.750] | 0.900 [0.850, 0.950] |" in text
    assert "Chance: 0.500." in text
    assert "## Sweep:" in to_markdown(summary)
    page = "".join(sweep_html(summary))
    assert page.count("<svg") == 1 and "snr (log scale)" in page
    assert list(sweeps(summary.iloc[:0])) == [] and sweep_markdown(summary.iloc[:0]) == []


def test_a_knob_with_text_values_is_drawn_as_categories() -> None:
    """``test_categories=seen|unseen``: two positions in sorted order, labelled with the text, no log axis."""
    rows = []
    for design, score in [("unseen", 0.6), ("seen", 0.75)]:
        name = f"simulated:default@test_categories={design}"
        rows += [_row(name, "ridge", score, score - 0.05, score + 0.05), _row(name, "chance", 0.5, float("nan"), float("nan"), kind="chance")]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    found = list(sweeps(summary))
    assert [(base, knob) for base, knob, _, _ in found] == [("simulated:default", "test_categories")]
    svg = sweep_plot(found[0][3], "pairwise_identification", "test_categories")
    assert "test_categories (categories)" in svg and "log scale" not in svg
    ticks = re.findall(r'text-anchor="middle" fill="#555">([a-z]+)</text>', svg)
    assert ticks == ["seen", "unseen"]
    # The seen point is left of the unseen one and higher.
    points = re.search(r'<polyline class="entry" points="([^"]+)"', svg).group(1).split()
    (x_seen, y_seen), (x_unseen, y_unseen) = [tuple(map(float, p.split(","))) for p in points]
    assert x_seen < x_unseen and y_seen < y_unseen  # SVG y grows downwards
    table = "\n".join(sweep_markdown(summary))
    assert "| entry | test_categories=seen | test_categories=unseen |" in table
    assert "0.750 [0.700, 0.800]" in table
