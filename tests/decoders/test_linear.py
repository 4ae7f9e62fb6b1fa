"""Linear decoders as arrays, per-ROI fits, their NNLS combination and training subsets."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from reconbench.core.types import TrainData
from reconbench.decoders.linear import LinearMap, fit_combination_weights, subset_train
from reconbench.decoders.ridge import fit_ridge_decoder


def test_nnls_combination_recovers_known_weights():
    rng = np.random.default_rng(1)
    p1, p2, p3 = (rng.standard_normal((30, 20)) for _ in range(3))
    target = 0.7 * p1 + 0.3 * p2
    np.testing.assert_allclose(fit_combination_weights([p1, p2, p3], target), [0.7, 0.3, 0.0], atol=1e-10)
    # An anti-correlated predictor gets weight zero, never a negative one.
    weights = fit_combination_weights([p1, -p2], p1 + 0.5 * p2)
    assert weights[1] == 0.0 and weights[0] > 0
    reference, _ = optimize.nnls(np.stack([p1.ravel(), -p2.ravel()], 1), (p1 + 0.5 * p2).ravel())
    np.testing.assert_allclose(weights, reference)


def synthetic_train(n_images=60, reps=2, seed=0):
    """V1 carries the targets linearly; V2 is noise only."""
    rng = np.random.default_rng(seed)
    targets = rng.standard_normal((n_images, 16)).astype(np.float32)
    mixing = rng.standard_normal((16, 40))
    index = np.repeat(np.arange(n_images), reps)
    v1 = targets[index] @ mixing + 0.5 * rng.standard_normal((index.size, 40))
    v2 = rng.standard_normal((index.size, 30))
    validation = np.zeros(n_images, bool)
    validation[::5] = True
    train = TrainData(
        images=np.zeros((n_images, 3, 8, 8), np.float32),
        stimulus_ids=np.array([f"s{i:03d}" for i in range(n_images)]),
        fmri={"V1": v1.astype(np.float32), "V2": v2.astype(np.float32)},
        trial_image_index=index,
        runs=np.zeros(index.size, int),
        validation_mask=validation,
    )
    return train, targets


def test_linear_map_folds_target_pca():
    train, targets = synthetic_train()
    reference = fit_ridge_decoder(train, "V1", targets, samples="averaged", target_pca=5)
    folded = LinearMap.from_ridge(reference)
    x = train.averaged_fmri("V1")
    np.testing.assert_allclose(folded.predict(x), reference.predict(x), rtol=1e-4, atol=1e-5)


def test_subset_train_keeps_trials_of_kept_images():
    train, _ = synthetic_train()
    keep = np.arange(60) % 3 != 0
    sub = subset_train(train, keep)
    assert sub.images.shape[0] == keep.sum()
    np.testing.assert_array_equal(sub.stimulus_ids, train.stimulus_ids[keep])
    np.testing.assert_allclose(sub.averaged_fmri("V1"), train.averaged_fmri("V1")[keep], rtol=1e-6)
    np.testing.assert_array_equal(sub.validation_mask, train.validation_mask[keep])
