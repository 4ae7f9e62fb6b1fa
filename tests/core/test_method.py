"""The Method interface: abstract fit/reconstruct, scikit-learn style parameters, params hash."""

from __future__ import annotations

import numpy as np
import pytest

from reconbench.core.method import Method, NotFittedError, params_hash


class Grey(Method):
    name = "grey"

    def __init__(self, level: float = 0.5, size: int = 4):
        self.level = level
        self.size = size

    def fit(self, train):
        self.fitted_ = True
        return self

    def reconstruct(self, test):
        self.check_is_fitted("fitted_")
        return np.full((len(test.stimulus_ids), 3, self.size, self.size), self.level, np.float32)


def test_a_method_without_reconstruct_cannot_be_instantiated():
    class Incomplete(Method):
        name = "incomplete"

        def fit(self, train):
            return self

    with pytest.raises(TypeError, match="reconstruct"):
        Incomplete()


def test_get_params_returns_init_arguments_unchanged():
    method = Grey(level=0.25, size=8)
    assert method.get_params() == {"level": 0.25, "size": 8}
    assert repr(method) == "Grey(level=0.25, size=8)"


def test_reconstruct_before_fit_names_the_missing_state():
    with pytest.raises(NotFittedError, match="fitted_"):
        Grey().reconstruct(type("T", (), {"stimulus_ids": np.array(["a"])})())


def test_params_hash_ignores_key_order_and_numpy_scalars_but_not_values():
    assert params_hash("grey", {"level": 0.5, "size": 4}) == params_hash("grey", {"size": np.int64(4), "level": np.float64(0.5)})
    assert params_hash("grey", {"level": 0.5}) != params_hash("grey", {"level": 0.6})
    assert params_hash("grey", {"level": 0.5}) != params_hash("other", {"level": 0.5})
