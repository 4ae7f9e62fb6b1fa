"""Fixtures of the dataset tests: a hand-built dataset in the 2019 ds001506 layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconbench.datasets.splits import MANIFEST_NAME
from tests.data.bdata_files import BuiltDataset, build_dataset


@pytest.fixture(scope="module")
def two_subject_dataset(tmp_path_factory) -> BuiltDataset:
    """A hand-built dataset in the 2019 file layout (``sub-01`` and ``sub-02``).

    One per test module, not per session: the split tests write a manifest into
    its folder, which the loader tests must not see.
    """
    return build_dataset(tmp_path_factory.mktemp("ds001506") / "ds", subjects=("sub-01", "sub-02"))


@pytest.fixture
def dataset_copy(two_subject_dataset, tmp_path) -> Path:
    """A copy of the two-subject dataset's folder, without a split manifest, for a test to break."""
    target = tmp_path / "copy"
    shutil.copytree(two_subject_dataset.root, target, ignore=shutil.ignore_patterns(MANIFEST_NAME))
    return target
