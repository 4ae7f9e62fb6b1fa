"""Checks a method author runs on their own method: the Method contract of the harness.

In a plugin's own tests (the model: scikit-learn's ``parametrize_with_checks``)::

    from reconbench.testing import parametrize_with_checks
    from my_method import LowResRidge

    @parametrize_with_checks([LowResRidge])
    def test_reconbench_contract(method, param_set, check):
        check(method, param_set)

One test case per parameter set and check (:data:`reconbench.bench.conformance.CHECKS`),
on the first subject of the ``tiny`` simulated preset (simulated once, in seconds, into the
folder ``reconbench bench --preset tiny`` uses, or ``$RECONBENCH_CHECK_DATA``). A failing
check fails with an ``AssertionError`` that says what to change. From the command line,
``reconbench check --methods-dir DIR [NAME]`` runs the same checks in a sealed process.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

from reconbench.bench.conformance import CHECKS, CheckResult, ConformanceError, check_names, fitting_for_real, load_check_split, run_checks

__all__ = ["CHECKS", "CheckResult", "ConformanceError", "check_method", "parametrize_with_checks", "run_checks"]

#: Environment variable naming the folder of the checks' ``tiny`` preset.
CHECK_DATA_ENV = "RECONBENCH_CHECK_DATA"


@functools.lru_cache(maxsize=4)
def _split(data: str | None) -> Any:
    return load_check_split(data)  # None: default_check_data()


def check_method(cls: type, param_set: str | None = None, *, checks: Sequence[str] | None = None, data: str | None = None) -> list[CheckResult]:
    """Run the checks on ``cls`` (every parameter set, or ``param_set``) and return their results."""
    split = _split(data or os.environ.get(CHECK_DATA_ENV) or None)
    sets = [param_set] if param_set is not None else list(cls.parameter_sets)
    return [result for name in sets for result in run_checks(cls, name, split, checks)]


def _check_function(check: str) -> Callable[[type, str], None]:
    def run(cls: type, param_set: str) -> None:
        split = _split(os.environ.get(CHECK_DATA_ENV) or None)
        with fitting_for_real():
            CHECKS[check](cls, param_set, split)

    run.__name__ = f"check_{check}"
    return run


def parametrize_with_checks(methods: Sequence[type], checks: Sequence[str] | None = None):
    """A ``pytest.mark.parametrize`` over ``(method, param_set, check)``: every parameter set of every
    class in ``methods`` and every check (default all of :data:`CHECKS`). The test calls ``check(method, param_set)``."""
    import pytest

    chosen = check_names(checks)
    cases, ids = [], []
    for cls in methods:
        for param_set in cls.parameter_sets:
            for check in chosen:
                cases.append((cls, param_set, _check_function(check)))
                ids.append(f"{getattr(cls, 'name', cls.__name__)}:{param_set}-{check}")
    return pytest.mark.parametrize(("method", "param_set", "check"), cases, ids=ids)
