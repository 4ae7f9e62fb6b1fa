"""Provenance of a result row: the code version and the tracked package versions."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np

import reconbench
from reconbench.core.provenance import TRACKED_PACKAGES, code_version, package_versions


def test_package_versions_name_installed_tracked_packages() -> None:
    versions = json.loads(package_versions())
    assert versions["numpy"] == np.__version__
    assert set(versions) <= set(TRACKED_PACKAGES)
    assert list(versions) == sorted(versions)
    for name, version in versions.items():
        assert version == importlib.metadata.version(name)


def test_code_version_is_a_git_description_or_the_package_version() -> None:
    version = code_version()
    assert version and "\n" not in version
    assert version == code_version()  # computed once per process
    assert version == f"reconbench {reconbench.__version__}" or not version.startswith("reconbench ")
