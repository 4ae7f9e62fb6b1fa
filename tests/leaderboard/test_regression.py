"""``reconbench compare``: a moved score, a missing row and a new row."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from reconbench.cli import app
from reconbench.leaderboard.regression import compare_leaderboards
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


def test_missing_rows_fail_and_new_rows_do_not(tmp_path, reference) -> None:
    summary, path = reference
    fewer = summary[summary["method"] != "good"]
    report = compare_leaderboards(_write(tmp_path, fewer), path)
    assert not report.ok and set(report.missing["method"]) == {"good"}
    extra = pd.concat([summary, summary[summary["method"] == "good"].assign(method="brand_new")], ignore_index=True)
    report = compare_leaderboards(_write(tmp_path, extra), path)
    assert report.ok and set(report.added["method"]) == {"brand_new"}


def test_cli_exit_codes(tmp_path, reference) -> None:
    summary, path = reference
    same = _write(tmp_path, summary)
    assert CliRunner().invoke(app, ["compare", str(same), str(path)]).exit_code == 0
    moved = summary.copy()
    moved["mean"] += 0.5
    result = CliRunner().invoke(app, ["compare", str(_write(tmp_path, moved)), str(path)])
    assert result.exit_code == 1
