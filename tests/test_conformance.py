"""The Method contract (reconbench.bench.conformance, the checks a method author runs) on every
discovered method and parameter set, on the ``tiny`` preset: the declarations, the parameters,
``NotFittedError`` before ``fit``, one fit and reconstruction of every test set with no test
image held afterwards (one fit per case), and, marked slow, that two fits with one seed agree.
"""

from __future__ import annotations

import pytest

from reconbench.bench.conformance import run_checks
from reconbench.bench.registry import discover_methods
from reconbench.core.method import default_parameter_sets

METHODS = discover_methods()
# Every set the harness runs unless told otherwise; a set for a GPU (explicit_parameter_sets) is tested by its own module.
CASES = [(name, set_name) for name, cls in METHODS.items() for set_name in default_parameter_sets(cls)]


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.datasets.ds001506.loader import list_subjects
    from reconbench.datasets.splits import load_split

    subject = list_subjects(tiny_data_dir)[0]
    return load_split(tiny_data_dir, subject)


def _failures(results) -> list[str]:
    return [f"{r.check}: {r.message}" for r in results if not r.passed]


def test_methods_are_discovered():
    # the four baselines are built in; other methods join as their files land
    assert {"mean_image", "pixel_ridge", "nearest_neighbor", "category_prototype"} <= set(METHODS)


@pytest.mark.parametrize("name,param_set", CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_method_conformance(name, param_set, tiny_split, request):
    cls = METHODS[name]
    if any(requirement.startswith("weights:") for requirement in cls.requires):
        request.getfixturevalue("weights_cache")
    results = run_checks(cls, param_set, tiny_split, ["declares", "parameters", "not_fitted", "fit_and_reconstruct"])
    assert [r.check for r in results] == ["declares", "parameters", "not_fitted", "fit_and_reconstruct"]
    assert not _failures(results), _failures(results)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(METHODS))
def test_method_is_seeded(name, tiny_split, request):
    """Two fits with the same seed reconstruct the same images: randomness comes only from the seed.

    One parameter set per method (``default``, else the first) keeps this affordable.
    """
    cls = METHODS[name]
    param_set = "default" if "default" in cls.parameter_sets else next(iter(cls.parameter_sets))
    if any(requirement.startswith("weights:") for requirement in cls.requires):
        request.getfixturevalue("weights_cache")
    results = run_checks(cls, param_set, tiny_split, ["seeded"])
    assert not _failures(results), _failures(results)
