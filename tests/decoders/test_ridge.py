"""The ridge decoder against scikit-learn and himalaya references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from reconbench.core.errors import DataError
from reconbench.core.types import TrainData
from reconbench.decoders.ridge import (
    DEFAULT_ALPHAS,
    NotFittedDecoderError,
    RidgeDecoder,
    fit_ridge_decoder,
)


def _problem(n_samples, n_features, n_targets, seed=0, noise=None):
    """Linear targets with a different noise level per target (so best alphas differ)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    W = rng.standard_normal((n_features, n_targets)) / np.sqrt(n_features)
    if noise is None:
        noise = np.geomspace(0.05, 5.0, n_targets)
    Y = X @ W + 3.0 + rng.standard_normal((n_samples, n_targets)) * noise
    return X, Y.astype(np.float32)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("shape", [(120, 30), (40, 150)], ids=["primal", "dual"])
def test_fixed_alpha_matches_sklearn_ridge(backend, shape):
    X, Y = _problem(*shape, n_targets=5)
    decoder = RidgeDecoder(alphas=[7.5], backend=backend).fit(X, Y)
    reference = Ridge(alpha=7.5).fit(X.astype(np.float64), Y.astype(np.float64))
    assert decoder.solver_ == ("primal" if shape[0] >= shape[1] else "dual")
    np.testing.assert_allclose(decoder.coef_, reference.coef_.T, atol=2e-4, rtol=1e-3)
    np.testing.assert_allclose(decoder.intercept_, reference.intercept_, atol=2e-4, rtol=1e-3)
    X_new = np.random.default_rng(9).standard_normal((11, shape[1])).astype(np.float32)
    pred = decoder.predict(X_new)
    assert pred.dtype == np.float32 and pred.shape == (11, 5)
    np.testing.assert_allclose(pred, reference.predict(X_new), atol=1e-3, rtol=1e-3)


def test_primal_and_dual_agree():
    X, Y = _problem(60, 60, 4)
    primal = RidgeDecoder(alphas=[2.0], solver="primal").fit(X, Y)
    dual = RidgeDecoder(alphas=[2.0], solver="dual").fit(X, Y)
    np.testing.assert_allclose(primal.coef_, dual.coef_, atol=1e-4)


def test_no_intercept_matches_sklearn():
    X, Y = _problem(80, 20, 3)
    decoder = RidgeDecoder(alphas=[1.0], fit_intercept=False).fit(X, Y)
    reference = Ridge(alpha=1.0, fit_intercept=False).fit(X.astype(np.float64), Y.astype(np.float64))
    np.testing.assert_allclose(decoder.coef_, reference.coef_.T, atol=1e-4, rtol=1e-3)
    np.testing.assert_array_equal(decoder.intercept_, 0.0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_grouped_targets_equal_expanded_rows(backend):
    """target_index (trials of repeated stimuli) gives the same fit as expanding the rows."""
    rng = np.random.default_rng(3)
    n_stimuli, n_reps, n_features = 30, 4, 25
    Y_stim = rng.standard_normal((n_stimuli, 6)).astype(np.float32)
    index = np.repeat(np.arange(n_stimuli), n_reps)
    rng.shuffle(index)
    X = (Y_stim[index] @ rng.standard_normal((6, n_features)) + rng.standard_normal((index.size, n_features))).astype(np.float32)
    for solver in ("primal", "dual"):
        decoder = RidgeDecoder(alphas=[4.0], solver=solver, backend=backend).fit(X, Y_stim, target_index=index)
        reference = Ridge(alpha=4.0).fit(X.astype(np.float64), Y_stim[index].astype(np.float64))
        np.testing.assert_allclose(decoder.coef_, reference.coef_.T, atol=2e-4, rtol=1e-3)
        np.testing.assert_allclose(decoder.intercept_, reference.intercept_, atol=2e-4)


def _grid_search(X, Y, alphas, validation_mask, scoring):
    split = PredefinedSplit(np.where(validation_mask, 0, -1))
    search = GridSearchCV(Ridge(), {"alpha": list(alphas)}, cv=split, scoring=scoring, refit=True)
    return search.fit(X.astype(np.float64), Y.astype(np.float64))


def test_per_target_alpha_matches_sklearn_grid_search():
    X, Y = _problem(150, 40, 6, seed=1)
    validation_mask = np.zeros(150, bool)
    validation_mask[::4] = True
    alphas = np.logspace(-2, 4, 13)
    decoder = RidgeDecoder(alphas=alphas).fit(X, Y, validation_mask=validation_mask)
    expected = []
    for t in range(Y.shape[1]):
        search = _grid_search(X, Y[:, t], alphas, validation_mask, "neg_mean_squared_error")
        expected.append(search.best_params_["alpha"])
        # refit on all rows with the chosen alpha, like GridSearchCV(refit=True)
        np.testing.assert_allclose(decoder.coef_[:, t], search.best_estimator_.coef_, atol=2e-4, rtol=1e-3)
    np.testing.assert_allclose(decoder.alpha_, expected)
    # the noise levels differ by 100x, so the selection is really per target
    assert len(np.unique(decoder.alpha_)) > 1
    assert decoder.validation_scores_.shape == (13, 6)


def test_shared_alpha_matches_sklearn_grid_search():
    X, Y = _problem(150, 40, 6, seed=2)
    validation_mask = np.zeros(150, bool)
    validation_mask[100:] = True
    alphas = np.logspace(-2, 4, 13)
    decoder = RidgeDecoder(alphas=alphas, alpha_per_target=False).fit(X, Y, validation_mask=validation_mask)
    search = _grid_search(X, Y, alphas, validation_mask, "neg_mean_squared_error")
    np.testing.assert_allclose(decoder.alpha_, search.best_params_["alpha"])
    np.testing.assert_allclose(decoder.coef_, search.best_estimator_.coef_.T, atol=2e-4, rtol=1e-3)


def test_per_target_alpha_matches_himalaya_ridge_cv():
    from himalaya.ridge import solve_ridge_cv_svd

    X, Y = _problem(150, 40, 6, seed=4)
    validation_mask = np.zeros(150, bool)
    validation_mask[1::3] = True
    alphas = np.logspace(-2, 4, 13)
    decoder = RidgeDecoder(alphas=alphas).fit(X, Y, validation_mask=validation_mask)
    best_alphas, coefs, _, intercept = solve_ridge_cv_svd(
        X.astype(np.float64),
        Y.astype(np.float64),
        alphas=alphas,
        cv=PredefinedSplit(np.where(validation_mask, 0, -1)),
        fit_intercept=True,
        local_alpha=True,
    )
    np.testing.assert_allclose(decoder.alpha_, best_alphas, rtol=1e-6)
    np.testing.assert_allclose(decoder.coef_, coefs, atol=2e-4, rtol=1e-3)


def test_refit_false_keeps_training_fold_model():
    X, Y = _problem(100, 20, 3, seed=5)
    validation_mask = np.arange(100) >= 70
    decoder = RidgeDecoder(alphas=[0.1, 10.0, 1000.0], refit=False).fit(X, Y, validation_mask=validation_mask)
    for t in range(3):
        reference = Ridge(alpha=decoder.alpha_[t]).fit(X[:70].astype(float), Y[:70, t].astype(float))
        np.testing.assert_allclose(decoder.coef_[:, t], reference.coef_, atol=2e-4, rtol=1e-3)
        # validation R^2 at the chosen alpha equals sklearn's on the fold
        r2 = reference.score(X[70:].astype(float), Y[70:, t].astype(float))
        np.testing.assert_allclose(decoder.best_validation_score_[t], r2, atol=1e-4)


def test_grouped_validation_uses_averaged_responses():
    """With target_index the alpha is chosen on responses averaged per validation stimulus."""
    rng = np.random.default_rng(6)
    n_stimuli, n_reps, n_features = 60, 5, 30
    Y_stim = rng.standard_normal((n_stimuli, 4)).astype(np.float32)
    index = np.tile(np.arange(n_stimuli), n_reps)
    X = (Y_stim[index] @ rng.standard_normal((4, n_features)) + 3 * rng.standard_normal((index.size, n_features))).astype(np.float32)
    validation_mask = np.arange(n_stimuli) % 5 == 0
    alphas = np.logspace(-1, 5, 13)
    decoder = RidgeDecoder(alphas=alphas).fit(X, Y_stim, validation_mask=validation_mask, target_index=index)
    dual_torch = RidgeDecoder(alphas=alphas, solver="dual", backend="torch").fit(X, Y_stim, validation_mask=validation_mask, target_index=index)
    # same validation curves through the kernel form and the torch backend (float32: alphas that
    # score within 1e-5 of each other may swap, so the curves are compared, not the arg max)
    np.testing.assert_allclose(dual_torch.validation_scores_, decoder.validation_scores_, atol=1e-3)
    train_samples = ~validation_mask[index]
    X_val_avg = np.stack([X[index == s].mean(0) for s in np.flatnonzero(validation_mask)])
    errors = []
    for alpha in alphas:
        model = Ridge(alpha=alpha).fit(X[train_samples].astype(float), Y_stim[index[train_samples]].astype(float))
        errors.append(((model.predict(X_val_avg.astype(float)) - Y_stim[validation_mask]) ** 2).sum(0))
    expected = alphas[np.argmin(np.array(errors), axis=0)]
    np.testing.assert_allclose(decoder.alpha_, expected)


def test_target_pca_matches_sklearn_pca_pipeline():
    X, Y = _problem(120, 30, 20, seed=7, noise=0.5)
    decoder = RidgeDecoder(alphas=[5.0], target_pca=4).fit(X, Y)
    pca = PCA(n_components=4, svd_solver="full").fit(Y.astype(np.float64))
    ridge = Ridge(alpha=5.0).fit(X.astype(np.float64), pca.transform(Y.astype(np.float64)))
    X_new = np.random.default_rng(1).standard_normal((9, 30)).astype(np.float32)
    expected = pca.inverse_transform(ridge.predict(X_new.astype(np.float64)))
    assert decoder.coef_.shape == (30, 4) and decoder.pca_components_.shape == (4, 20)
    np.testing.assert_allclose(decoder.predict(X_new), expected, atol=1e-3, rtol=1e-3)
    # variance fraction: as many components as sklearn's PCA(n_components=0.9)
    decoder_frac = RidgeDecoder(alphas=[5.0], target_pca=0.9).fit(X, Y)
    assert decoder_frac.pca_components_.shape[0] == PCA(n_components=0.9, svd_solver="full").fit(Y.astype(float)).n_components_


def test_errors_and_params():
    X, Y = _problem(50, 10, 2)
    with pytest.raises(NotFittedDecoderError):
        RidgeDecoder().predict(X)
    with pytest.raises(ValueError, match="validation_mask"):
        RidgeDecoder(alphas=[1.0, 2.0]).fit(X, Y)
    with pytest.raises(ValueError, match="alphas"):
        RidgeDecoder(alphas=[0.0, 1.0]).fit(X, Y, validation_mask=np.arange(50) < 10)
    with pytest.raises(ValueError, match="solver"):
        RidgeDecoder(alphas=[1.0], solver="qr").fit(X, Y)
    with pytest.raises(ValueError, match="backend"):
        RidgeDecoder(alphas=[1.0], backend="jax").fit(X, Y)
    with pytest.raises(ValueError, match="target_pca"):
        RidgeDecoder(alphas=[1.0], target_pca=1.5).fit(X, Y)
    with pytest.raises(ValueError, match="finite"):
        RidgeDecoder(alphas=[1.0]).fit(np.full_like(X, np.nan), Y)
    decoder = RidgeDecoder(alphas=[1.0]).fit(X, Y)
    with pytest.raises(ValueError, match="shape"):
        decoder.predict(X[:, :5])
    # sklearn clone semantics: the parameters come back unchanged
    from sklearn.base import clone

    params = dict(alphas=(1.0, 10.0), alpha_per_target=False, target_pca=3, solver="dual", backend="torch")
    cloned = clone(RidgeDecoder(**params))
    assert {k: cloned.get_params()[k] for k in params} == params
    assert len(DEFAULT_ALPHAS) >= 8


def _train_data(n_images=40, n_reps=3, n_voxels=25, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n_images, 3, 8, 8), dtype=np.float32)
    index = np.tile(np.arange(n_images), n_reps)
    signal = images.reshape(n_images, -1) @ rng.standard_normal((192, n_voxels)) / 8
    fmri = (signal[index] + rng.standard_normal((index.size, n_voxels))).astype(np.float32)
    return TrainData(
        images=images,
        stimulus_ids=np.array([f"s{i}" for i in range(n_images)]),
        fmri={"VC": fmri},
        trial_image_index=index,
        runs=np.repeat(np.arange(n_reps), n_images),
        validation_mask=np.arange(n_images) % 4 == 0,
    )


def test_fit_ridge_decoder_trials_and_averaged():
    train = _train_data()
    targets = train.images.reshape(40, -1)[:, :10]
    trials = fit_ridge_decoder(train, "VC", targets, samples="trials", alphas=[3.0])
    reference = Ridge(alpha=3.0).fit(train.fmri["VC"].astype(float), targets[train.trial_image_index].astype(float))
    np.testing.assert_allclose(trials.coef_, reference.coef_.T, atol=2e-4, rtol=1e-3)
    averaged = fit_ridge_decoder(train, "VC", targets, samples="averaged", alphas=[3.0])
    reference = Ridge(alpha=3.0).fit(train.averaged_fmri("VC").astype(float), targets.astype(float))
    np.testing.assert_allclose(averaged.coef_, reference.coef_.T, atol=2e-4, rtol=1e-3)
    with pytest.raises(DataError, match="HVC"):
        fit_ridge_decoder(train, "HVC", targets)
    with pytest.raises(ValueError, match="samples"):
        fit_ridge_decoder(train, "VC", targets, samples="runs")


def test_argmax_accuracy_scoring_matches_sklearn_ridge_classifier_search():
    from sklearn.linear_model import RidgeClassifier

    rng = np.random.default_rng(8)
    n_samples, n_features, n_classes = 160, 30, 4
    labels = rng.integers(0, n_classes, n_samples)
    X = (np.eye(n_classes)[labels] @ rng.standard_normal((n_classes, n_features)) * 0.6 + rng.standard_normal((n_samples, n_features))).astype(np.float32)
    onehot = np.eye(n_classes, dtype=np.float32)[labels]
    validation_mask = np.arange(n_samples) % 4 == 0
    alphas = np.logspace(-1, 5, 13)
    decoder = RidgeDecoder(alphas=alphas, alpha_per_target=False, scoring="argmax_accuracy").fit(X, onehot, validation_mask=validation_mask)
    # Descending grid: on ties GridSearchCV keeps the first, the decoder the larger alpha.
    search = GridSearchCV(
        RidgeClassifier(),
        {"alpha": list(alphas[::-1])},
        cv=PredefinedSplit(np.where(validation_mask, 0, -1)),
        scoring="accuracy",
    ).fit(X.astype(np.float64), labels)
    assert decoder.alpha_[0] == pytest.approx(search.best_params_["alpha"])
    np.testing.assert_allclose(decoder.validation_accuracy_[::-1], search.cv_results_["mean_test_score"], atol=1e-12)
    np.testing.assert_array_equal(decoder.predict(X).argmax(1), search.best_estimator_.predict(X.astype(np.float64)))
    with pytest.raises(ValueError, match="argmax_accuracy"):
        RidgeDecoder(alphas=alphas, scoring="argmax_accuracy").fit(X, onehot, validation_mask=validation_mask)
    with pytest.raises(ValueError, match="scoring"):
        RidgeDecoder(alphas=alphas, scoring="r2").fit(X, onehot, validation_mask=validation_mask)
