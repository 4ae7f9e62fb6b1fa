"""``reconbench compare``: a moved score, a missing row and a new row."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from reconbench.cli import app
from reconbench.leaderboard.regression import compare_leaderboards, print_comparison
from reconbench.leaderboard.render import to_csv
from reconbench.leaderboard.tables import summarise


@pytest.fixture
def reference(tmp_path, three_methods):
    summary = summarise(three_methods)
    path = tmp_path / "reference.csv"
    path.write_text(to_csv(summary))
    return summary, path


def _write(tmp_path, frame: pd.DataFrame):
    path = tmp_path / "new.csv"
    path.write_text(to_csv(frame))
    return path


def test_identical_leaderboards_pass(tmp_path, reference) -> None:
    summary, path = reference
    report = compare_leaderboards(_write(tmp_path, summary), path)
    assert report.ok and report.max_change == 0
    assert report.n_compared == len(summary[summary["kind"].isin(["method", "oracle", "reference"])])


def test_a_move_beyond_tolerance_fails_and_within_passes(tmp_path, reference) -> None:
    summary, path = reference
    moved = summary.copy()
    target = (moved["method"] == "poor") & (moved["metric"] == "lpips")
    moved.loc[target, "mean"] += 0.02
    report = compare_leaderboards(_write(tmp_path, moved), path, tolerance=0.01)
    assert not report.ok
    assert list(report.moved["method"]) == ["poor"] and report.moved["change"].iloc[0] == pytest.approx(0.02, abs=1e-6)
    assert compare_leaderboards(_write(tmp_path, moved), path, tolerance=0.03).ok


def test_a_stale_reference_fails_both_ways_and_names_the_command_that_regenerates_it(tmp_path, reference, capsys) -> None:
    summary, path = reference
    fewer = summary[summary["method"] != "good"]
    report = compare_leaderboards(_write(tmp_path, fewer), path)
    assert not report.ok and set(report.missing["method"]) == {"good"}
    extra = pd.concat([summary, summary[summary["method"] == "good"].assign(method="brand_new")], ignore_index=True)
    report = compare_leaderboards(_write(tmp_path, extra), path)
    assert not report.ok and set(report.added["method"]) == {"brand_new"} and report.moved.empty
    print_comparison(report)
    err = capsys.readouterr().err
    assert "REGRESSION" in err and "new (not in the reference): simulated:tiny natural brand_new[default]" in err
    assert "to regenerate the reference" in err


def test_subset_and_entries_restrict_the_reference(tmp_path, reference) -> None:
    summary, path = reference
    fewer = summary[summary["method"] != "good"]
    assert compare_leaderboards(_write(tmp_path, fewer), path, subset=True).ok
    grid = {("simulated:tiny", m, "default", f"h-{m}") for m in ("poor", "near_good", "good")}
    # The grid asked for good: its absence fails; entries outside the grid are ignored on both sides.
    report = compare_leaderboards(_write(tmp_path, fewer), path, entries=grid)
    assert not report.ok and set(report.missing["method"]) == {"good"} and set(report.moved["method"]) == set()
    report = compare_leaderboards(_write(tmp_path, summary), path, entries=grid)
    assert report.ok and set(_methods_compared(summary, grid)) == {"good", "near_good", "poor"}
    assert report.n_compared == 6


def _methods_compared(summary, grid):
    return [m for m in summary["method"].unique() if ("simulated:tiny", m, "default", f"h-{m}") in grid]


def test_cli_exit_codes(tmp_path, reference) -> None:
    summary, path = reference
    same = _write(tmp_path, summary)
    assert CliRunner().invoke(app, ["compare", str(same), str(path)]).exit_code == 0
    moved = summary.copy()
    moved["mean"] += 0.5
    result = CliRunner().invoke(app, ["compare", str(_write(tmp_path, moved)), str(path)])
    assert result.exit_code == 1
