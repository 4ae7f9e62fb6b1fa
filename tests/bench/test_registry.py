"""Method discovery: built-ins, a folder of one-file methods, clear errors."""

from __future__ import annotations

import textwrap

import pytest

from reconbench.bench.registry import discover_methods, get_method
from reconbench.core.errors import ReconbenchError
from reconbench.core.method import Method

ONE_METHOD = """
    import numpy as np
    from reconbench.core.method import Method

    class Constant(Method):
        name = "constant_grey"
        def fit(self, train):
            return self
        def reconstruct(self, test):
            return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, np.float32)
"""


def test_builtins_are_found_sorted() -> None:
    methods = discover_methods()
    assert {"mean_image", "pixel_ridge", "nearest_neighbor", "category_prototype", "divide_and_conquer"} <= set(methods)
    assert list(methods) == sorted(methods)
    assert all(issubclass(cls, Method) for cls in methods.values())


def test_a_folder_adds_its_methods(tmp_path) -> None:
    (tmp_path / "constant.py").write_text(textwrap.dedent(ONE_METHOD))
    assert get_method("constant_grey", tmp_path).name == "constant_grey"
    with pytest.raises(ReconbenchError, match="unknown method 'constant_grey'; available: "):
        get_method("constant_grey")


def test_malformed_files_and_clashing_names_are_refused(tmp_path) -> None:
    (tmp_path / "two.py").write_text(textwrap.dedent(ONE_METHOD) + textwrap.dedent(ONE_METHOD).replace("Constant", "Other"))
    with pytest.raises(ReconbenchError, match="exactly one Method subclass, found 2"):
        discover_methods(tmp_path)
    (tmp_path / "two.py").unlink()
    (tmp_path / "clash.py").write_text(textwrap.dedent(ONE_METHOD).replace('"constant_grey"', '"mean_image"'))
    with pytest.raises(ReconbenchError, match="two methods are named 'mean_image'"):
        discover_methods(tmp_path)
