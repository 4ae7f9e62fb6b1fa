"""The HTML page: captions of reference rows come from the caller, plots are inline SVG.

(The page as a whole, self-contained and well formed, is tested in test_render.py.)
"""

from __future__ import annotations

import html

from reconbench.core.types import RowNote
from reconbench.leaderboard.html import interval_plot, to_html
from reconbench.leaderboard.tables import summarise

NOTES = {"category-only": RowNote("true-category mean training image", "category-only is the test legend")}


def test_reference_captions_and_legend_come_from_the_notes(three_methods, tmp_path) -> None:
    summary = summarise(three_methods)
    page = html.unescape(to_html(summary, three_methods, tmp_path, notes=NOTES))
    assert "category-only (true-category mean training image; reference, not ranked)" in page
    assert "category-only is the test legend; literature rows" in page
    bare = html.unescape(to_html(summary, three_methods, tmp_path))
    assert "category-only (reference, not ranked)" in bare and "test legend" not in bare


def test_interval_plot_has_one_row_per_entry(three_methods) -> None:
    summary = summarise(three_methods)
    rows = summary[(summary["test_set"] == "natural")]
    svg = interval_plot(rows, "pairwise_identification")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    entries = rows[(rows["metric"] == "pairwise_identification") & (rows["kind"] != "chance")]
    for method in entries["method"]:
        assert html.escape(method) in svg


def test_study_pages_beside_the_leaderboard_are_linked(three_methods, tmp_path) -> None:
    summary = summarise(three_methods)
    assert "Studies beside" not in to_html(summary, three_methods, tmp_path)
    (tmp_path / "convergence").mkdir()
    (tmp_path / "convergence" / "convergence.html").write_text("<html></html>")
    (tmp_path / "leaderboard").mkdir()
    (tmp_path / "leaderboard" / "leaderboard.html").write_text("<html></html>")  # the page itself is no study
    page = to_html(summary, three_methods, tmp_path)
    assert 'Studies beside this leaderboard: <a href="../convergence/convergence.html">convergence/convergence.html</a>.' in page
