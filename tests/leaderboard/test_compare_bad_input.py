"""compare refuses what cannot be compared and prints names literally (issue 17, findings 6 and 8).

Written against the API that existed before the issue-17 work (``compare_leaderboards(new, ref,
tolerance=...)``, ``print_comparison``, the ``compare`` command), so the same tests show the
behaviour before (they fail) and after (they pass)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.regression import compare_leaderboards, print_comparison
from reconbench.leaderboard.render import to_csv
from reconbench.leaderboard.tables import summarise
from tests.leaderboard.conftest import make_rows


def _leaderboard(path, rows):
    path.write_text(to_csv(summarise(rows)))
    return path


@pytest.fixture
def reference(tmp_path, three_methods):
    return _leaderboard(tmp_path / "ref.csv", three_methods)


def test_a_nan_tolerance_is_refused_in_one_line(tmp_path, reference) -> None:
    # Before: 'compare --tolerance nan' passed any change (every comparison with NaN is False).
    done = subprocess.run(
        [sys.executable, "-m", "reconbench", "compare", str(reference), str(reference), "--tolerance", "nan"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--tolerance" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("blank", ["nan", ""])
def test_a_nan_or_empty_mean_never_passes(tmp_path, reference, blank) -> None:
    text = reference.read_text().splitlines()
    header = text[0].split(",")
    column = header.index("mean")
    # Blank the mean of the first computed row ('good' is a method row).
    row = next(i for i, line in enumerate(text) if ",good," in line)
    cells = text[row].split(",")
    cells[column] = blank
    text[row] = ",".join(cells)
    new = tmp_path / "new.csv"
    new.write_text("\n".join(text) + "\n")
    report = compare_leaderboards(new, reference, tolerance=0.5)
    assert not report.ok


def test_leaderboards_of_different_datasets_are_refused_by_name(tmp_path, reference, three_methods) -> None:
    other = three_methods.copy()
    other["dataset"] = "simulated:ci"
    new = _leaderboard(tmp_path / "other.csv", other)
    with pytest.raises(ReconbenchError, match="different datasets"):
        compare_leaderboards(new, reference, tolerance=0.01)


def test_moved_rows_print_their_parameter_set_literally(tmp_path, reference, capsys) -> None:
    # Before: rich read '[default]' as markup and printed 'good' without its parameter set.
    rows = make_rows({("good", "method", "pairwise_identification"): np.full(10, 0.2), ("good", "method", "lpips"): np.full(10, 0.9)})
    new = _leaderboard(tmp_path / "moved.csv", rows)
    report = compare_leaderboards(new, reference, tolerance=0.01)
    assert not report.ok
    print_comparison(report)
    err = capsys.readouterr().err
    assert "good[default] pairwise_identification" in err and "good[default] lpips" in err
