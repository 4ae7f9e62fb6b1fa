"""The data contracts and the one repetition-averaging function."""

from __future__ import annotations

import numpy as np
import pytest

from reconbench.core.types import TrainData, average_trials


def test_average_trials_matches_a_loop() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 4)).astype(np.float32)
    index = np.array([2, 0, 1, 2, 0, 1, 2, 0, 1])
    out = average_trials(x, index, 3)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    for k in range(3):
        np.testing.assert_allclose(out[k], x[index == k].astype(np.float64).mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="no trial"):
        average_trials(x, index, 4)


def test_train_data_averaged_fmri_uses_it() -> None:
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    train = TrainData(
        images=np.zeros((3, 3, 2, 2), np.float32),
        stimulus_ids=np.array(["a", "b", "c"]),
        fmri={"VC": x},
        trial_image_index=np.array([0, 1, 2, 0, 1, 2]),
        runs=np.zeros(6, int),
        validation_mask=np.zeros(3, bool),
    )
    np.testing.assert_array_equal(train.averaged_fmri("VC"), average_trials(x, train.trial_image_index, 3))
    assert train.n_trials == 6
