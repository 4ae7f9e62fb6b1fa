"""The old import paths of the method contract still work, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

import reconbench.core.images
import reconbench.core.method
import reconbench.core.types


@pytest.mark.parametrize("old, new, name", [
    ("reconbench.bench.method", reconbench.core.method, "Method"),
    ("reconbench.bench.types", reconbench.core.types, "TrainData"),
    ("reconbench.bench.types", reconbench.core.types, "TestInput"),
    ("reconbench.bench.images", reconbench.core.images, "resize"),
])
def test_old_path_is_the_same_object_and_warns(old, new, name) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.__name__):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(new, name)
