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


BROKEN_PLUGIN = """
import numpy as np
from reconbench.core.method import Method


class Peeks(Method):
    name = "peeks"
    parameter_sets = {"default": {}}
    citation = "a test plugin"

    def fit(self, train):
        self.secret_ = open(SECRET).read()  # a file outside every folder a sealed process may read
        self.mean_ = np.asarray(train.images, dtype=np.float32).mean(axis=0)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), axis=0).astype(np.float64)
"""


def test_reconbench_check_runs_a_plugin_sealed_and_fails_it_with_what_to_change(tiny_data_dir, tmp_path, capsys) -> None:
    from reconbench.bench.landlock import abi_version
    from reconbench.cli import main

    secret = tmp_path / "secret" / "answer.txt"
    secret.parent.mkdir()
    secret.write_text("42")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "peeks.py").write_text(BROKEN_PLUGIN.replace("SECRET", repr(str(secret))))
    with pytest.raises(SystemExit) as ended:
        main(["check", "--methods-dir", str(plugins), "--data", str(tiny_data_dir), "--checks", "declares,fit_and_reconstruct"])
    out = capsys.readouterr().out
    assert ended.value.code == 1
    assert "PASS peeks[default] declares" in out and "1 check(s) failed" in out
    failed = [line for line in out.splitlines() if line.strip().startswith("FAIL peeks[default] fit_and_reconstruct")]
    assert len(failed) == 1
    if abi_version() >= 1:  # sealed: the secret is out of reach
        assert "PermissionError" in failed[0] and str(secret) in failed[0]
    else:
        assert "dtype float64; expected float32" in failed[0]
