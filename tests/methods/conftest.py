"""Fixtures of the method tests: the tiny split and a private stage cache."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_split(tiny_data_dir):
    from reconbench.datasets.splits import load_split

    return load_split(tiny_data_dir, "sub-01")


@pytest.fixture(scope="module")
def stage_cache_dir(tmp_path_factory):
    """A stage cache shared by the tests of one module (so shared stages are computed once)."""
    from reconbench.core.stage_cache import STAGE_CACHE_ENV

    folder = tmp_path_factory.mktemp("stages")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STAGE_CACHE_ENV, str(folder))
        yield folder
