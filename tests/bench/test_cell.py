"""One cell: what a method is handed, its seed, its failures, and the cell record (through runs on tiny)."""

from __future__ import annotations

import json
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest

from reconbench.bench.runner import run_benchmark
from tests.data.grid_run import REPO


def test_failures_are_recorded_and_the_run_goes_on(tiny_grid_run) -> None:
    rows = tiny_grid_run.rows
    failed = rows[rows["method"] == "always_fails"]
    assert list(failed["status"]) == ["failed"]
    assert failed["error"].iloc[0] == "ValueError: deliberate failure in fit"
    record = json.loads((tiny_grid_run.out / "cells" / f"{failed['cell_key'].iloc[0]}.json").read_text())
    assert record["status"] == "failed" and "deliberate failure in fit" in record["tracebacks"]["fit"]
    wrong = rows[rows["method"] == "wrong_count"]
    assert set(wrong["status"]) == {"failed"} and set(wrong["test_set"]) == {"natural", "shapes", "letters"}
    assert wrong["error"].str.contains("reconstructions for").all()
    assert tiny_grid_run.n_failed == 2
    assert (rows.loc[rows["method"] == "my_lowres_ridge", "status"] == "ok").all()


def test_only_oracles_see_true_images(tiny_grid_run) -> None:
    rows = tiny_grid_run.rows
    oracle = rows[rows["method"] == "oracle_copy"]
    assert set(oracle["kind"]) == {"oracle"} and set(oracle["status"]) == {"ok"}
    np.testing.assert_allclose(oracle.loc[oracle["metric"] == "pixcorr", "value"], 1.0, atol=1e-5)
    grey = rows[rows["method"] == "seeded_grey"]
    assert set(grey["status"]) == {"ok"}, grey["error"].unique()  # it raises if handed true images
    assert set(grey["kind"]) == {"method"}


def test_seed_reaches_methods_that_take_one(tiny_data_dir, grid_methods_dir, tmp_path) -> None:
    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path,
        methods=["seeded_grey"],
        metrics=["pixcorr"],
        methods_dir=grid_methods_dir,
        seeds=[0, 1],
        references=False,
        leaderboard=False,
    )
    rows = summary.rows
    assert summary.n_cells == 2 and set(rows["seed"]) == {0, 1}
    assert rows["params_hash"].nunique() == 1, "the seed is not a hyperparameter"
    by_seed = [rows[rows["seed"] == s].set_index(["test_set", "stimulus_id"])["value"].sort_index() for s in (0, 1)]
    assert not np.allclose(by_seed[0].to_numpy(), by_seed[1].to_numpy())


def test_a_method_cannot_change_the_shared_training_data(tiny_data_dir, tmp_path) -> None:
    """Cells share the loaded split within a worker; an in-place edit must fail that cell, not leak."""
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "vandal.py").write_text(
        textwrap.dedent("""
        from reconbench.core.method import Method

        class Vandal(Method):
            name = "vandal"
            def fit(self, train):
                train.images[:] = 0.0
                return self
            def reconstruct(self, test):
                raise AssertionError("never reached")
    """)
    )
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "out",
        methods=["vandal", "my_lowres_ridge:default"],
        metrics=["pixcorr"],
        methods_dir=folder,
        references=False,
        leaderboard=False,
    )
    rows = summary.rows
    assert rows.loc[rows["method"] == "vandal", "error"].iloc[0].startswith("ValueError: assignment destination is read-only")
    assert (rows.loc[rows["method"] == "my_lowres_ridge", "status"] == "ok").all()


@pytest.mark.weights
def test_cell_record_keeps_a_methods_stage_log(tiny_data_dir, weights_cache, tmp_path, monkeypatch) -> None:
    # divide_and_conquer exposes per-stage times, cache hits and peak memory; the harness records them.
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", str(tmp_path / "stages"))
    summary = run_benchmark(
        "simulated:tiny", tiny_data_dir, tmp_path / "out", methods=["divide_and_conquer:no_semantics"], metrics=["pixcorr"], references=False, leaderboard=False
    )
    key = summary.rows["cell_key"].iloc[0]
    record = json.loads((tmp_path / "out" / "cells" / f"{key}.json").read_text())
    stages = {entry["stage"]: entry for entry in record["stage_log"]}
    assert set(stages) == {"shape_decoder", "generator"}
    for entry in stages.values():
        assert entry["cache_hit"] is False and entry["seconds"] > 0
        # Peak resident memory (MB) of the process during the stage: within the cell's overall peak.
        assert 10 < entry["peak_rss_mb"] <= record["peak_memory_mb"] + 1
    # Stage-wise diagnostics (reconbench.bench.diagnostics): the decoded shape map, no semantic stage in this set,
    # and the final image's means equal to the cell's rows.
    natural = record["stage_diagnostics"]["natural"]
    assert set(natural) == {"shape_map", "final", "n_images"} and natural["n_images"] == 10
    assert set(natural["shape_map"]) == {"space_identification", "image/pixcorr"}
    assert 0.0 <= natural["shape_map"]["space_identification"] <= 1.0
    rows = summary.rows[(summary.rows["test_set"] == "natural") & (summary.rows["metric"] == "pixcorr")]
    assert natural["final"]["pixcorr"] == pytest.approx(rows["value"].mean())
    table = pd.read_csv(tmp_path / "out" / "diagnostics.csv")
    assert set(table["output"]) == {"shape_map", "final"} and set(table["test_set"]) == {"natural", "shapes", "letters"}


@pytest.mark.weights
def test_a_changed_environment_reaches_the_next_run_in_the_same_process(tiny_data_dir, weights_cache, tmp_path, monkeypatch) -> None:
    # A method process inherits the environment of the server it is forked from; a server started by the first
    # run must not serve the second after RECONBENCH_STAGE_CACHE changed (it would look up the first run's cache).
    for run in ("first", "second"):
        monkeypatch.setenv("RECONBENCH_STAGE_CACHE", str(tmp_path / f"stages-{run}"))
        summary = run_benchmark(
            "simulated:tiny",
            tiny_data_dir,
            tmp_path / run,
            methods=["divide_and_conquer:no_semantics"],
            metrics=["pixcorr"],
            references=False,
            leaderboard=False,
        )
        key = summary.rows["cell_key"].iloc[0]
        record = json.loads((tmp_path / run / "cells" / f"{key}.json").read_text())
        assert [entry["cache_hit"] for entry in record["stage_log"]] == [False, False], run
        assert any((tmp_path / f"stages-{run}").rglob("*.npz")), run


def test_the_device_reaches_methods_that_take_one_and_every_row_records_it(tiny_data_dir, tmp_path) -> None:
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "device_grey.py").write_text(
        textwrap.dedent("""
        import numpy as np
        from reconbench.core.method import Method

        class DeviceGrey(Method):
            name = "device_grey"
            def __init__(self, device=None):
                self.device = device
            def fit(self, train):
                if self.device != "cpu":
                    raise ValueError(f"handed device {self.device!r}")
                self.shape_ = train.images.shape[1:]
                return self
            def reconstruct(self, test):
                n = len(test.stimulus_ids)
                return np.linspace(0.2, 0.8, n * int(np.prod(self.shape_)), dtype=np.float32).reshape(n, *self.shape_)
    """)
    )
    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "out",
        methods=["device_grey"],
        metrics=["pixcorr"],
        methods_dir=folder,
        references=False,
        leaderboard=False,
        device="cpu",
    )
    rows = summary.rows
    assert set(rows["status"]) == {"ok"}, rows["error"].unique()
    import torch

    assert set(rows["device"]) == {"cpu"} and set(rows["torch_version"]) == {torch.__version__}
    assert set(rows["gpu_name"]) == set(rows["cuda_version"]) == set(rows["cudnn_version"]) == {""}
    key = rows["cell_key"].iloc[0]
    record = json.loads((tmp_path / "out" / "cells" / f"{key}.json").read_text())
    assert record["device"] == "cpu" and record["spec"]["device"] == "cpu" and record["gpu_peak_memory_mb"] is None
    # The device is no hyperparameter: the params hash is that of the (empty) parameter set.
    from reconbench.core.method import params_hash

    assert set(rows["params_hash"]) == {params_hash("device_grey", {})}
