"""compare states the measured spread per environment and the thread counts the two runs used
(issue 17, finding 7 / build item 5: results depend on the thread count; compare must say how much)."""

from __future__ import annotations

import json

import pandas as pd

from reconbench.leaderboard.regression import compare_leaderboards, print_comparison
from reconbench.leaderboard.render import to_csv
from reconbench.leaderboard.tables import summarise
from reconbench.leaderboard.tolerances import FORMAT_VERSION, KEY_COLUMNS


def _results_folder(root, rows: pd.DataFrame, threads: int | None):
    """A results folder as a run leaves it: leaderboard/leaderboard.csv and results.parquet (rows with a
    ``threads`` column, or without one like rows made before it existed)."""
    (root / "leaderboard").mkdir(parents=True)
    (root / "leaderboard" / "leaderboard.csv").write_text(to_csv(summarise(rows)))
    stored = rows.drop(columns=["threads"], errors="ignore")
    if threads is not None:
        stored = stored.assign(threads=threads)
    stored.to_parquet(root / "results.parquet", index=False)
    return root / "leaderboard" / "leaderboard.csv"


def _tolerance_file(folder, leaderboard_csv, environments):
    table = pd.read_csv(leaderboard_csv, dtype={"param_set": str, "params_hash": str})
    rows = [dict({c: str(r[c]) for c in KEY_COLUMNS}, tolerance=0.05) for _, r in table.iterrows() if r["kind"] in ("method", "oracle", "reference")]
    content = {"format": FORMAT_VERSION, "rows": rows, "environments": environments}
    (folder / "tolerances.json").write_text(json.dumps(content))


ENVIRONMENTS = [
    {"name": "threads-1", "variables": {}, "threads": 1, "largest_change": 0.0222},
    {"name": "threads-4", "variables": {}, "threads": 4, "largest_change": 0.0111},
    {"name": "mkl-sse42", "variables": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, "threads": 2, "largest_change": 0.0},
]


def test_compare_states_the_measured_spread_and_differing_thread_counts(tmp_path, three_methods, capsys) -> None:
    reference = _results_folder(tmp_path / "ref", three_methods, threads=2)
    _tolerance_file(tmp_path / "ref", reference, ENVIRONMENTS)
    new = _results_folder(tmp_path / "new", three_methods, threads=1)

    report = compare_leaderboards(new, reference)
    assert report.ok and report.max_change == 0
    spread = [n for n in report.notes if n.startswith("measured spread")]
    assert len(spread) == 1
    assert "threads-1 (1 thread) 0.0222" in spread[0] and "threads-4 (4 threads) 0.0111" in spread[0]
    assert "mkl-sse42 (2 threads) 0" in spread[0]
    threads = [n for n in report.notes if n.startswith("threads per cell")]
    assert threads == [threads[0]] and "new 1, reference 2; they differ" in threads[0]

    print_comparison(report)
    err = capsys.readouterr().err
    assert "note: measured spread" in err and "note: threads per cell: new 1, reference 2" in err


def test_same_thread_counts_are_stated_without_a_warning(tmp_path, three_methods) -> None:
    reference = _results_folder(tmp_path / "ref", three_methods, threads=2)
    new = _results_folder(tmp_path / "new", three_methods, threads=2)
    notes = compare_leaderboards(new, reference, tolerance=0.01).notes
    assert notes == ["threads per cell: new 2, reference 2"]


def test_rows_without_a_thread_count_are_said_to_be_unrecorded(tmp_path, three_methods) -> None:
    # The committed references (results/tiny, ci, default) predate the threads column.
    reference = _results_folder(tmp_path / "ref", three_methods, threads=None)
    new = _results_folder(tmp_path / "new", three_methods, threads=2)
    notes = compare_leaderboards(new, reference, tolerance=0.01).notes
    assert notes == ["threads per cell: new 2, reference not recorded (rows made before they recorded it)"]
    # A bare CSV with no rows beside it: nothing to say about threads.
    bare = tmp_path / "bare.csv"
    bare.write_text(reference.read_text())
    assert compare_leaderboards(bare, bare, tolerance=0.01).notes == []
