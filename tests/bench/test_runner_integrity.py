"""The runner and the results folder it writes: committed rows kept, corrupt
cells recomputed, bad options refused before any work (issue 17)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from reconbench.bench.runner import run_benchmark
from reconbench.cli import leaderboard_writer
from reconbench.core.errors import ReconbenchError
from reconbench.store.results import ResultStore, comparable, load_results

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def test_adding_a_method_to_the_committed_tiny_folder_keeps_every_row(tiny_data_dir, weights_cache, tmp_path) -> None:
    """Finding 1: running into a copy of results/tiny rebuilt results.parquet from the new cells only."""
    out = tmp_path / "tiny"
    shutil.copytree(REPO / "results" / "tiny", out)
    committed = load_results(out)
    summary = run_benchmark("simulated:tiny", tiny_data_dir, out, methods=["my_lowres_ridge:default"], methods_dir=EXAMPLES, leaderboard=leaderboard_writer)
    rows = load_results(out)
    assert set(rows["method"]) == set(committed["method"]) | {"my_lowres_ridge"}
    old = rows[rows["method"] != "my_lowres_ridge"].reset_index(drop=True)
    assert len(old) == len(committed)
    key = ["cell_key", "test_set", "metric", "stimulus_id", "status"]
    merged = committed[key + ["value"]].merge(old[key + ["value"]], on=key, suffixes=("_committed", "_now"))
    assert len(merged) == len(committed)
    same = (merged["value_committed"] == merged["value_now"]) | (merged["value_committed"].isna() & merged["value_now"].isna())
    assert same.all(), "committed scores must stay bit-identical"
    assert summary.n_run >= 1
    board = pd.read_csv(out / "leaderboard" / "leaderboard.csv")
    assert "my_lowres_ridge" in set(board["method"]) and set(committed["method"]) - {""} <= set(board["method"])


def test_a_corrupt_cell_is_moved_aside_and_recomputed_to_the_same_rows(tiny_data_dir, tmp_path) -> None:
    """Finding 2, end to end: the rerun repairs the folder and reports it once."""
    kwargs = dict(methods=["my_lowres_ridge:default"], methods_dir=EXAMPLES, metrics=["pixcorr"], references=False, leaderboard=False)
    first = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, **kwargs)
    store = ResultStore(tmp_path)
    (key,) = store.cell_keys()
    rows_file = tmp_path / "cells" / f"{key}.parquet"
    rows_file.write_bytes(rows_file.read_bytes()[:-30])
    again = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, **kwargs)
    assert again.n_run == 1 and len(again.repairs) == 1 and "sha256" in again.repairs[0]
    pd.testing.assert_frame_equal(comparable(again.rows), comparable(first.rows))
    third = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, **kwargs)
    assert third.n_run == 0 and third.repairs == []


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(seeds=[]), "no seeds"),
        (dict(seeds=[99999999999999999999]), "out of range"),
        (dict(seeds=[-1]), "out of range"),
        (dict(threads=0), "--threads 0"),
        (dict(threads=-2), "--threads -2"),
        (dict(jobs=0), "--jobs 0"),
    ],
)
def test_bad_run_options_are_refused_before_any_work(tiny_data_dir, tmp_path, options, match) -> None:
    """Finding 6: these ran nothing and exited 0, or gave tracebacks after computing."""
    with pytest.raises(ReconbenchError, match=match):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", methods=["mean_image"], **options)
    assert not (tmp_path / "out").exists()


def test_results_inside_the_data_folder_or_onto_a_file_are_refused(tiny_data_dir, tmp_path) -> None:
    for out, match in ((tiny_data_dir / "stimuli" / "res", "inside the data folder"), (tiny_data_dir, "inside the data folder")):
        with pytest.raises(ReconbenchError, match=match):
            run_benchmark("simulated:tiny", tiny_data_dir, out, methods=["mean_image"])
    assert not (tiny_data_dir / "stimuli" / "res").exists()
    a_file = tmp_path / "hostname"
    a_file.write_text("x")
    with pytest.raises(ReconbenchError, match="is a file"):
        run_benchmark("simulated:tiny", tiny_data_dir, a_file, methods=["mean_image"])
