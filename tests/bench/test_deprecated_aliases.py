"""The pre-0.2 import paths of the method contract (``reconbench.bench.method``, ``.types``,
``.images``) still work for one release, with a DeprecationWarning: the alias modules, and a
third-party method file written against them, loaded and run by the harness."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import reconbench.core.images
import reconbench.core.method
import reconbench.core.types
from reconbench.bench.registry import get_method
from reconbench.bench.runner import run_benchmark

OLD_MODULES = ("reconbench.bench.method", "reconbench.bench.types", "reconbench.bench.images")
LEGACY_METHOD = Path(__file__).resolve().parents[1] / "data" / "legacy_methods" / "old_paths_mean.py"


@pytest.mark.parametrize(
    "old, new, name",
    [
        ("reconbench.bench.method", reconbench.core.method, "Method"),
        ("reconbench.bench.types", reconbench.core.types, "TrainData"),
        ("reconbench.bench.types", reconbench.core.types, "TestInput"),
        ("reconbench.bench.images", reconbench.core.images, "resize"),
    ],
)
def test_old_path_is_the_same_object_and_warns(old, new, name) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.__name__):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(new, name)


def test_a_method_written_against_the_old_paths_loads_and_runs(tiny_data_dir, tmp_path) -> None:
    folder = tmp_path / "methods"
    folder.mkdir()
    shutil.copy(LEGACY_METHOD, folder / LEGACY_METHOD.name)
    for old in OLD_MODULES:
        sys.modules.pop(old, None)  # the warning comes with the first import in a process
    with pytest.warns(DeprecationWarning) as caught:
        cls = get_method("old_paths_mean", folder)
    warned = {str(w.message).split(" is deprecated")[0] for w in caught if issubclass(w.category, DeprecationWarning)}
    assert warned == set(OLD_MODULES)
    assert issubclass(cls, reconbench.core.method.Method)
    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "out",
        methods=["old_paths_mean"],
        metrics=["pixcorr"],
        methods_dir=folder,
        references=False,
        leaderboard=False,
    )
    rows = summary.rows
    assert set(rows["status"]) == {"ok"}, rows["error"].unique()
    assert set(rows["test_set"]) == {"natural", "shapes", "letters"}
    assert np.isfinite(rows["value"]).all()
