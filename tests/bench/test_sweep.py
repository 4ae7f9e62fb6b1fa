"""``reconbench sweep``: one simulated dataset per value, one results folder, deterministic and resumable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reconbench.bench.sweep import run_sweep, sweep_points
from reconbench.cli import leaderboard_writer
from reconbench.core.errors import ReconbenchError
from reconbench.datasets.simulated.ground_truth import simulated_settings


def test_points_are_named_canonically_and_bad_grids_are_refused() -> None:
    assert sweep_points("tiny", "snr", ["0.02", 0.04]) == [("simulated:tiny@snr=0.02", {"snr": 0.02}), ("simulated:tiny@snr=0.04", {"snr": 0.04})]
    with pytest.raises(ReconbenchError, match="given twice"):
        sweep_points("tiny", "snr", ["0.02", "2e-2"])
    with pytest.raises(ReconbenchError, match="no values given for snr"):
        sweep_points("tiny", "snr", [])
    with pytest.raises(ReconbenchError, match="unknown simulator setting 'voxels'"):
        sweep_points("tiny", "voxels", ["1"])
    with pytest.raises(ReconbenchError, match="unknown preset 'huge'"):
        sweep_points("huge", "snr", ["1"])


def test_a_folder_of_other_data_at_a_point_is_refused_before_any_work(tmp_path) -> None:
    root = tmp_path / "data"
    (root / "simulated-tiny@snr=0.02").mkdir(parents=True)
    (root / "simulated-tiny@snr=0.02" / "notes.txt").write_text("mine")
    with pytest.raises(ReconbenchError, match="holds no simulated dataset"):
        run_sweep("tiny", "snr", ["0.02"], tmp_path / "out", data_root=root, methods=["mean_image"])
    assert (root / "simulated-tiny@snr=0.02" / "notes.txt").read_text() == "mine"


def _values(out) -> pd.DataFrame:
    rows = pd.read_parquet(out / "results.parquet")
    rows = rows[rows["metric"] != ""]
    return rows.sort_values(["dataset", "test_set", "method", "param_set", "metric", "stimulus_id"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.weights
def test_sweep_is_deterministic_resumable_and_plots_every_point(tmp_path, weights_cache) -> None:
    root = tmp_path / "data"
    first = run_sweep("tiny", "snr", ["0.02", "0.16"], tmp_path / "a", data_root=root, methods=["mean_image"], threads=1, leaderboard=leaderboard_writer)
    assert [name for name, _, _ in first.points] == ["simulated:tiny@snr=0.02", "simulated:tiny@snr=0.16"]
    assert simulated_settings(root / "simulated-tiny@snr=0.16") == {"snr": 0.16}
    assert all(s.n_run > 0 and s.n_failed == 0 for _, _, s in first.points)

    again = run_sweep("tiny", "snr", ["0.02", "0.16"], tmp_path / "a", data_root=root, methods=["mean_image"], threads=1)
    assert [s.n_run for _, _, s in again.points] == [0, 0]  # resumed: every cell already done

    second = run_sweep("tiny", "snr", ["0.02", "0.16"], tmp_path / "b", data_root=root, methods=["mean_image"], threads=1)
    a, b = _values(tmp_path / "a"), _values(tmp_path / "b")
    assert len(a) > 0 and set(a["dataset"]) == {"simulated:tiny@snr=0.02", "simulated:tiny@snr=0.16"}
    assert a[["dataset", "test_set", "method", "metric", "stimulus_id"]].equals(b[["dataset", "test_set", "method", "metric", "stimulus_id"]])
    assert np.array_equal(a["value"].to_numpy(), b["value"].to_numpy(), equal_nan=True)
    assert second.points[0][2].n_run == first.points[0][2].n_run

    # The noise ceiling (the simulator's ideal observer) sees the higher SNR; mean_image cannot.
    lb = pd.read_csv(tmp_path / "a" / "leaderboard" / "leaderboard.csv")
    pi = lb[(lb["metric"] == "pairwise_identification") & (lb["test_set"] == "natural")].set_index(["method", "dataset"])["mean"]
    assert pi[("mean_image", "simulated:tiny@snr=0.02")] == pi[("mean_image", "simulated:tiny@snr=0.16")] == 0.5
    assert pi[("noise-ceiling", "simulated:tiny@snr=0.16")] >= pi[("noise-ceiling", "simulated:tiny@snr=0.02")]

    page = (tmp_path / "a" / "leaderboard" / "leaderboard.html").read_text()
    assert "Sweep: simulated:tiny · snr · natural" in page
    markdown = (tmp_path / "a" / "leaderboard" / "leaderboard.md").read_text()
    assert "| entry | snr=0.02 | snr=0.16 |" in markdown


@pytest.mark.parametrize(
    "args, message",
    [
        (["--knob", "voxels", "--values", "1"], "unknown simulator setting 'voxels'"),
        (["--knob", "snr", "--values", "0.1,abc"], "setting snr: 'abc' is not a number"),
        (["--knob", "training_reps", "--values", "0"], "training_reps must be a finite number >= 1"),
    ],
)
def test_the_command_refuses_a_bad_grid_in_one_line_before_any_work(args, message, tmp_path, capsys) -> None:
    from reconbench.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--preset", "tiny", "--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "data"), *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip().splitlines() == [f"error: {err.strip()[len('error: ') :]}"] and message in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()
