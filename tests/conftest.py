"""Shared fixtures: a simulated ``tiny`` dataset and the pretrained weights cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A ``tiny`` simulated dataset (seed 0), made once per test session."""
    from reconbench.datasets.simulated.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "tiny"
    simulate(preset="tiny", out=out, seed=0, force=False, progress=False)
    return out


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
