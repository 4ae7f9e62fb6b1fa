"""Executors: serial, local processes and Dask give the same results, in any order of completion."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from reconbench.bench.executors import execute
from reconbench.bench.runner import run_benchmark
from reconbench.core.errors import ReconbenchError
from reconbench.store.results import comparable
from tests.data.grid_run import GRID_METRICS


def square(spec: int, report=None) -> int:
    """A module-level (picklable) worker that reports two stages."""
    if report is not None:
        report("compute", 0, 1)
        report("done", 1, 1)
    return spec * spec


def test_serial_and_processes_agree_and_report_events() -> None:
    events = []
    serial = dict(execute(square, [1, 2, 3], jobs=1, on_event=lambda *e: events.append(e)))
    assert serial == {1: 1, 2: 4, 3: 9}
    assert (0, "compute", 0, 1) in events and (2, "done", 1, 1) in events
    parallel = dict(execute(square, [1, 2, 3], jobs=2))
    assert parallel == serial


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ReconbenchError, match="at least 1"):
        execute(square, [1], jobs=0)


@pytest.mark.slow
def test_force_local_processes_and_dask_give_identical_rows(tiny_grid_run, tiny_data_dir, grid_methods_dir, tmp_path) -> None:
    from distributed import LocalCluster

    # A subset of the grid keeps this quick: a fitted method, a failing one and an oracle.
    methods = ["my_lowres_ridge", "always_fails", "oracle_copy"]
    # The serial run used cpu_count threads per cell and -j 2 uses cpu_count // 2; each row says which
    # (these methods happen to round alike), so the thread count is left out of this comparison.
    # noise-free-ridge is left out: its ridge solve depends on the BLAS thread count (as pixel_ridge's does).
    compared = methods + ["nearest-category", "noise-ceiling"]

    def rows_of(rows: pd.DataFrame) -> pd.DataFrame:
        return comparable(rows[rows["method"].isin(compared)]).drop(columns=["threads"])

    expected = rows_of(tiny_grid_run.rows)
    local = run_benchmark(
        "simulated:tiny", tiny_data_dir, tmp_path / "j2", methods=methods, metrics=GRID_METRICS, methods_dir=grid_methods_dir, jobs=2, leaderboard=False
    )
    assert local.n_run == 7
    assert set(local.rows["threads"]) == {max(1, (os.cpu_count() or 1) // 2)}
    pd.testing.assert_frame_equal(rows_of(local.rows), expected)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        # An address, as given to --scheduler.
        dask = run_benchmark(
            "simulated:tiny",
            tiny_data_dir,
            tmp_path / "dask",
            methods=methods,
            metrics=GRID_METRICS,
            methods_dir=grid_methods_dir,
            scheduler=cluster.scheduler_address,
            leaderboard=False,
        )
    pd.testing.assert_frame_equal(rows_of(dask.rows), expected)
    forced = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "dask",
        methods=["my_lowres_ridge:lvc"],
        metrics=GRID_METRICS,
        methods_dir=grid_methods_dir,
        force=True,
        leaderboard=False,
    )
    assert forced.n_run == 4  # the selected parameter set + the three reference cells


class _Spec:
    def __init__(self, device: str) -> None:
        self.device = device


def _where(spec: _Spec) -> str:
    from distributed import get_worker

    return f"{spec.device}@{get_worker().name}"


def test_cells_on_cuda_request_a_gpu_on_dask_and_run_only_on_gpu_workers() -> None:
    from distributed import Client, LocalCluster

    from reconbench.bench.executors import cell_resources

    assert cell_resources(_Spec("cpu")) is None and cell_resources(_Spec("cuda:1")) == {"GPU": 1}
    specs = [_Spec("cuda"), _Spec("cpu"), _Spec("cuda:0"), _Spec("cpu")]
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        # Only CPU workers: the cells on CUDA are refused before anything is submitted.
        cluster.scale(1)
        client.wait_for_workers(1)
        with pytest.raises(ReconbenchError, match=r"2 cell\(s\) run on a CUDA device.*--resources GPU=1"):
            list(execute(_where, specs, scheduler=client))
        # With a GPU worker beside the CPU one, every CUDA cell lands on it (Dask's own placement).
        from distributed import Worker

        async def _gpu_worker():
            return await Worker(cluster.scheduler_address, name="gpu-worker", resources={"GPU": 1}, nthreads=1)

        gpu = client.sync(_gpu_worker)
        try:
            placed = dict(execute(_where, specs, scheduler=client))
        finally:
            client.sync(gpu.close)
    assert {spec.device: where for spec, where in placed.items() if spec.device != "cpu"} == {"cuda": "cuda@gpu-worker", "cuda:0": "cuda:0@gpu-worker"}


def test_a_run_on_a_cluster_resolves_its_device_by_the_workers(tmp_path) -> None:
    from distributed import LocalCluster

    from reconbench.bench.executors import cluster_gpus, resolve_run_device

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        assert cluster_gpus(cluster.scheduler_address) == 0
        assert resolve_run_device("auto", cluster.scheduler_address) == "cpu"
        assert resolve_run_device("cpu", cluster.scheduler_address) == "cpu"
        with pytest.raises(ReconbenchError, match="no worker of the Dask cluster declares a GPU"):
            resolve_run_device("cuda", cluster.scheduler_address)
