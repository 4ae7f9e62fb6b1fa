"""The method authors' kit (reconbench.testing, reconbench check): each check passes an honest
method and fails the method that breaks its rule, saying what to change."""

from __future__ import annotations

import numpy as np
import pytest

from reconbench.bench.conformance import CHECKS, run_checks
from reconbench.core.method import Method
from reconbench.testing import parametrize_with_checks


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.datasets.ds001506.loader import list_subjects
    from reconbench.datasets.splits import load_split

    return load_split(tiny_data_dir, list_subjects(tiny_data_dir)[0])


class Honest(Method):
    """Mean training image, plus a seeded jitter (so the seed check has something to check)."""

    name = "honest"
    parameter_sets = {"default": {}, "loud": {"jitter": 0.05}}
    citation = "a test method"

    def __init__(self, jitter: float = 0.01, seed: int = 0) -> None:
        self.jitter = jitter
        self.seed = seed

    def fit(self, train):
        rng = np.random.default_rng(self.seed)
        mean = np.asarray(train.images, dtype=np.float32).mean(axis=0)
        self.mean_ = np.clip(mean + self.jitter * rng.standard_normal(mean.shape), 0, 1).astype(np.float32)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), axis=0)


class ChangesItsParameters(Honest):
    name = "changes_parameters"
    parameter_sets = {"default": {"jitter": 0.05}}

    def __init__(self, jitter: float = 0.01, seed: int = 0) -> None:
        super().__init__(jitter * 2, seed)  # derived in __init__ instead of fit


class NoNotFittedError(Honest):
    name = "no_not_fitted_error"

    def reconstruct(self, test):
        return np.zeros((len(test.stimulus_ids), 3, 8, 8), np.float32)


class FitReturnsNone(Honest):
    name = "fit_returns_none"

    def fit(self, train):
        super().fit(train)


class Float64(Honest):
    name = "float64_output"

    def reconstruct(self, test):
        return super().reconstruct(test).astype(np.float64)


#: What a cheating method found somewhere (set by the test below): the test images.
LEAKED: list = []


class HoldsTestImages(Honest):
    name = "holds_test_images"

    def fit(self, train):
        super().fit(train)
        self.found_ = np.stack(LEAKED) if LEAKED else None
        return self


class Unseeded(Honest):
    name = "unseeded"

    def fit(self, train):
        self.seed = self.seed  # the seed is ignored: fresh entropy below
        mean = np.asarray(train.images, dtype=np.float32).mean(axis=0)
        self.mean_ = np.clip(mean + 0.1 * np.random.default_rng().standard_normal(mean.shape), 0, 1).astype(np.float32)
        return self


def _verdicts(cls, split, checks=None):
    return {r.check: (r.passed, r.message) for r in run_checks(cls, "default", split, checks)}


def test_an_honest_method_passes_every_check(tiny_split) -> None:
    verdicts = _verdicts(Honest, tiny_split)
    assert list(verdicts) == list(CHECKS)
    assert all(passed for passed, _ in verdicts.values()), verdicts


@pytest.mark.parametrize(
    ("cls", "check", "says"),
    [
        (ChangesItsParameters, "parameters", "is not stored unchanged"),
        (NoNotFittedError, "not_fitted", "expected NotFittedError"),
        (FitReturnsNone, "fit_and_reconstruct", "fit returned NoneType, not self"),
        (Float64, "fit_and_reconstruct", "dtype float64; expected float32"),
        (Unseeded, "seeded", "two fits with seed 0 differ"),
    ],
)
def test_each_check_fails_the_method_that_breaks_its_rule(tiny_split, cls, check, says) -> None:
    verdicts = _verdicts(cls, tiny_split)
    passed, message = verdicts[check]
    assert not passed and says in message, verdicts
    others = {name: ok for name, (ok, _) in verdicts.items() if name != check and name != "seeded"}
    assert all(others.values()), verdicts  # the fault is named by its own check


def test_a_method_holding_a_test_image_fails(tiny_split) -> None:
    test_name = next(iter(tiny_split.test_images))
    LEAKED[:] = [np.asarray(tiny_split.test_images[test_name][1][0], dtype=np.float32)]
    try:
        passed, message = _verdicts(HoldsTestImages, tiny_split, ["fit_and_reconstruct"])["fit_and_reconstruct"]
    finally:
        LEAKED.clear()
    assert not passed and f"holds a test image of {test_name}" in message


def test_a_crash_in_the_method_is_a_failed_check_reported_as_itself(tiny_split) -> None:
    class Crashes(Honest):
        name = "crashes"

        def fit(self, train):
            raise KeyError("no such ROI")

    passed, message = _verdicts(Crashes, tiny_split, ["fit_and_reconstruct"])["fit_and_reconstruct"]
    assert not passed and message.startswith("crashes[default]: KeyError: 'no such ROI' (at ")


@parametrize_with_checks([Honest], checks=["declares", "parameters", "not_fitted"])
def test_parametrize_with_checks_makes_one_case_per_set_and_check(method, param_set, check, tiny_data_dir, monkeypatch) -> None:
    monkeypatch.setenv("RECONBENCH_CHECK_DATA", str(tiny_data_dir))
    check(method, param_set)


def test_parametrize_with_checks_lists_every_case_and_refuses_an_unknown_check() -> None:
    from reconbench.core.errors import ReconbenchError

    mark = parametrize_with_checks([Honest], checks=["declares", "seeded"])
    assert mark.kwargs["ids"] == ["honest:default-declares", "honest:default-seeded", "honest:loud-declares", "honest:loud-seeded"]
    with pytest.raises(ReconbenchError, match="unknown check.*no_such"):
        parametrize_with_checks([Honest], checks=["no_such"])
