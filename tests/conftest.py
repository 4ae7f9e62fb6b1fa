"""Shared fixtures: a simulated ``tiny`` dataset, one run of the harness on it, and the pretrained weights cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.data.grid_run import GRID_METHODS, GRID_METRICS, write_methods_dir


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A ``tiny`` simulated dataset (seed 0), made once per test session."""
    from reconbench.datasets.simulated.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "tiny"
    simulate(preset="tiny", out=out, seed=0, force=False, progress=False)
    return out


@pytest.fixture(scope="session")
def grid_methods_dir(tmp_path_factory) -> Path:
    """A methods folder (``--methods-dir``): the test methods of ``tests/data/grid_methods`` and the example."""
    return write_methods_dir(tmp_path_factory.mktemp("methods"))


@pytest.fixture(scope="session")
def tiny_grid_run(tiny_data_dir, grid_methods_dir, tmp_path_factory):
    """One serial run of :data:`~tests.data.grid_run.GRID_METHODS` (with the reference rows) on ``tiny``.

    Shared by the runner, cell, executor and reference tests, which read its
    rows (``.rows``) and its folder (``.out``); only the runner's resume test
    writes into the folder again, and leaves the same rows.
    """
    from reconbench.bench.runner import run_benchmark

    out = tmp_path_factory.mktemp("results") / "serial"
    return run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        out,
        methods=GRID_METHODS,
        metrics=GRID_METRICS,
        methods_dir=grid_methods_dir,
        jobs=1,
    )


def pytest_configure(config):
    """The tests run on the CPU on every machine: ``auto`` would pick a GPU where there is one, and
    their expected values are CPU values. Tests marked ``cuda`` name their device themselves."""
    os.environ["RECONBENCH_DEVICE"] = "cpu"


@pytest.fixture(scope="session")
def weights_cache() -> Path:
    """The weights cache of ``reconbench weights fetch`` (fetched if absent).

    Uses ``$RECONBENCH_CACHE`` (tox sets it to ``.cache/reconbench`` in the
    checkout). A fetch failure fails the tests that need weights: no metric may
    run on random weights.
    """
    from reconbench.core.paths import cache_dir
    from reconbench.metrics.weights_fetch import fetch_weights

    cache = cache_dir()
    fetch_weights(cache=cache, progress=False)
    return cache


@pytest.fixture(scope="session")
def alexnet_weights_cache() -> Path:
    """A weights cache with the AlexNet and LPIPS-AlexNet weights (all the default metrics and the
    methods need): ``$RECONBENCH_CACHE`` as it is when those verify, else fetched as :func:`weights_cache`.
    An offline machine (the GPU check, ``scripts/gpu_check.sh``) carries just those files."""
    from reconbench.core.paths import cache_dir
    from reconbench.metrics.weights import weights_status
    from reconbench.metrics.weights_fetch import fetch_weights

    cache = cache_dir()
    status = weights_status(cache)
    if not all(status[name]["verified"] for name in ("alexnet", "lpips_alexnet")):
        fetch_weights(cache=cache, progress=False)
    return cache
