"""Provenance of a result row: the code version and the versions of the packages that made it.

Every row records :func:`code_version` (``git describe`` of the checkout, else the
package version) and :func:`package_versions` (JSON of :data:`TRACKED_PACKAGES`);
the harness asks here and the store only stores the answers.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import subprocess
from pathlib import Path

import reconbench
from reconbench.core.bdata_choice import bdata_reader

#: Packages whose versions are recorded with every row.
TRACKED_PACKAGES = (
    "reconbench",
    "numpy",
    "scipy",
    "torch",
    "scikit-learn",
    "scikit-image",
    "himalaya",
    "bdpy",
    "h5py",
    "pandas",
    "pyarrow",
    "pillow",
)


@functools.lru_cache(maxsize=1)
def _installed_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def package_versions() -> str:
    """JSON object of the installed versions of :data:`TRACKED_PACKAGES` (absent ones omitted).

    bdpy is named only when it is the BData reader of this process
    (:func:`reconbench.core.bdata_choice.bdata_reader`): a row without it was read
    with the project's own reader (:mod:`reconbench.datasets.bdata_reader`).
    """
    versions = dict(_installed_versions())
    if bdata_reader() != "bdpy":
        versions.pop("bdpy", None)
    return json.dumps(versions, sort_keys=True)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the checkout the package runs from, else
    ``reconbench <version>`` for an installed copy."""

    package_dir = Path(reconbench.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=package_dir.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        described = out.stdout.strip()
        if described:
            return described
    except (OSError, subprocess.SubprocessError):
        pass
    return f"reconbench {reconbench.__version__}"
