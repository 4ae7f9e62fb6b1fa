"""The pure ridge solvers against scipy.linalg and scikit-learn references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from reconbench.decoders.ridge_solvers import (
    RidgeSolution,
    average_by_target,
    check_alphas,
    check_ridge_inputs,
    choose_solver,
    get_himalaya_backend,
    group_sum,
    indicator_sum,
    r2_from_errors,
    ridge_spectrum,
    select_alphas,
    solve_ridge,
    symmetric_eigh,
    target_pca,
    validation_errors,
)

NUMPY = get_himalaya_backend("numpy")


def _problem(n_samples, n_features, n_targets, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    W = rng.standard_normal((n_features, n_targets)) / np.sqrt(n_features)
    Y = X @ W + 2.0 + rng.standard_normal((n_samples, n_targets)) * np.geomspace(0.05, 5.0, n_targets)
    return X, Y.astype(np.float32)


def _closed_form(X, Y, alpha):
    """Centred ridge by scipy.linalg.solve in float64: coef (V, T), intercept (T,)."""
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    x_mean, y_mean = X.mean(0), Y.mean(0)
    Xc = X - x_mean
    coef = scipy.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (Y - y_mean), assume_a="pos")
    return coef, y_mean - x_mean @ coef


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("shape", [(90, 20), (25, 70)], ids=["primal", "dual"])
def test_spectrum_coefficients_equal_scipy_solve_for_one_alpha_per_target(backend, shape):
    X, Y = _problem(*shape, n_targets=3)
    module = get_himalaya_backend(backend)
    spectrum = ridge_spectrum(module, X, Y)
    assert spectrum.solver == ("primal" if shape[0] >= shape[1] else "dual")
    alphas = np.array([0.5, 40.0, 0.5])
    coef = np.asarray(module.to_numpy(spectrum.coef(alphas)))
    for column, alpha in enumerate(alphas):
        expected, _ = _closed_form(X, Y[:, [column]], alpha)
        np.testing.assert_allclose(coef[:, column], expected[:, 0], atol=2e-4, rtol=1e-3)


def test_primal_and_dual_forms_give_one_solution():
    X, Y = _problem(40, 40, 2, seed=4)
    primal = ridge_spectrum(NUMPY, X, Y, solver="primal").coef(np.array([3.0, 3.0]))
    dual = ridge_spectrum(NUMPY, X, Y, solver="dual").coef(np.array([3.0, 3.0]))
    np.testing.assert_allclose(primal, dual, atol=1e-4)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_projected_predictions_equal_sklearn_ridge_for_every_alpha(solver):
    X, Y = _problem(60, 30, 4, seed=1)
    X_new = np.random.default_rng(2).standard_normal((7, 30)).astype(np.float32)
    spectrum = ridge_spectrum(NUMPY, X, Y, solver=solver)
    alphas = np.array([0.1, 10.0, 1000.0])
    projected, shrink = spectrum.project(X_new), spectrum.shrinkage(alphas)
    assert shrink.shape == (spectrum.lam.shape[0], 3)
    for k, alpha in enumerate(alphas):
        pred = projected @ (spectrum.C * shrink[:, k : k + 1]) + spectrum.y_mean
        reference = Ridge(alpha=alpha).fit(X.astype(np.float64), Y.astype(np.float64))
        np.testing.assert_allclose(pred, reference.predict(X_new.astype(np.float64)), atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_target_index_equals_expanded_rows(backend):
    rng = np.random.default_rng(5)
    Y_rows = rng.standard_normal((12, 3)).astype(np.float32)
    index = rng.permutation(np.repeat(np.arange(12), 3))
    X = (Y_rows[index] @ rng.standard_normal((3, 15)) + rng.standard_normal((36, 15))).astype(np.float32)
    module = get_himalaya_backend(backend)
    for solver in ("primal", "dual"):
        spectrum = ridge_spectrum(module, X, Y_rows, index, solver=solver)
        coef = np.asarray(module.to_numpy(spectrum.coef(np.full(3, 2.0))))
        expected, intercept = _closed_form(X, Y_rows[index], 2.0)
        np.testing.assert_allclose(coef, expected, atol=2e-4, rtol=1e-3)
        got_intercept = np.asarray(module.to_numpy(spectrum.y_mean - spectrum.x_mean @ spectrum.coef(np.full(3, 2.0))))
        np.testing.assert_allclose(got_intercept, intercept, atol=2e-4)


def test_validation_errors_equal_sklearn_residuals_and_accuracy():
    X, Y = _problem(80, 12, 3, seed=6)
    train, val = np.arange(80) >= 20, np.arange(80) < 20
    alphas = np.array([0.3, 30.0, 3000.0])
    spectrum = ridge_spectrum(NUMPY, X[train], Y[train])
    sse, sst, accuracy = validation_errors(NUMPY, spectrum, X[val], Y[val], alphas, argmax_accuracy=True)
    Y_val = Y[val].astype(np.float64)
    np.testing.assert_allclose(sst, ((Y_val - Y_val.mean(0)) ** 2).sum(0), rtol=1e-10)
    for k, alpha in enumerate(alphas):
        pred = Ridge(alpha=alpha).fit(X[train].astype(np.float64), Y[train].astype(np.float64)).predict(X[val].astype(np.float64))
        np.testing.assert_allclose(sse[k], ((Y_val - pred) ** 2).sum(0), rtol=1e-3)
        assert accuracy[k] == np.mean(pred.argmax(1) == Y_val.argmax(1))
    batched, _, none = validation_errors(NUMPY, spectrum, X[val], Y[val], alphas, n_targets_batch=2)
    np.testing.assert_allclose(batched, sse, rtol=1e-6)
    assert none is None


def test_r2_from_errors_equals_sklearn_r2_score():
    rng = np.random.default_rng(7)
    truth = rng.standard_normal((30, 4))
    pred = truth + rng.standard_normal((30, 4)) * [0.1, 0.5, 1.0, 3.0]
    sse, sst = ((truth - pred) ** 2).sum(0), ((truth - truth.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(r2_from_errors(sse, sst), r2_score(truth, pred, multioutput="raw_values"), rtol=1e-12)
    assert r2_from_errors(np.array([2.0]), np.array([0.0]), constant=0.25)[0] == 0.25


def test_select_alphas_per_target_shared_accuracy_and_ties():
    alphas = np.array([1.0, 10.0, 100.0])
    sse = np.array([[1.0, 9.0, 4.0], [2.0, 3.0, 4.0], [5.0, 1.0, 4.0]])  # target 2: a three-way tie
    sst = np.array([10.0, 10.0, 0.0])
    np.testing.assert_array_equal(select_alphas(sse, sst, alphas), [0, 2, 2])
    # shared: lowest mean SSE over targets (2.0+3.0+4.0 = 9 is the smallest row sum)
    np.testing.assert_array_equal(select_alphas(sse, sst, alphas, alpha_per_target=False), [1, 1, 1])
    np.testing.assert_array_equal(select_alphas(sse, sst, alphas, accuracy=np.array([0.5, 0.7, 0.7])), [2, 2, 2])


@pytest.mark.parametrize("n_rows", [40, 8], ids=["tall", "wide"])
def test_target_pca_equals_sklearn_pca_up_to_sign(n_rows):
    rng = np.random.default_rng(9)
    Y = (rng.standard_normal((n_rows, 3)) @ rng.standard_normal((3, 10)) * [5, 4, 3, 2, 1, 1, 1, 1, 1, 1] + 0.01 * rng.standard_normal((n_rows, 10))).astype(
        np.float32
    )
    components, mean = target_pca(Y, 3)
    reference = PCA(n_components=3, svd_solver="full").fit(Y.astype(np.float64))
    np.testing.assert_allclose(mean, reference.mean_, atol=1e-6)
    signs = np.sign(np.sum(components * reference.components_, axis=1))
    np.testing.assert_allclose(components, reference.components_ * signs[:, None], atol=1e-4)
    largest = components[np.arange(3), np.argmax(np.abs(components), axis=1)]
    assert np.all(largest > 0)
    fraction, _ = target_pca(Y, 0.9)
    assert fraction.shape[0] == PCA(n_components=0.9, svd_solver="full").fit(Y.astype(np.float64)).n_components_
    for bad in (0, 1.5, "3"):
        with pytest.raises(ValueError, match="target_pca"):
            target_pca(Y, bad)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_group_sum_and_average_by_target_equal_pandas(backend):
    rng = np.random.default_rng(10)
    values = rng.standard_normal((30, 4)).astype(np.float32)
    index = rng.integers(0, 6, 30)
    index[:6] = np.arange(6)  # every group has a row
    module = get_himalaya_backend(backend)
    frame = pd.DataFrame(values.astype(np.float64)).assign(group=index).groupby("group")
    summed = np.asarray(module.to_numpy(group_sum(module, module.asarray(values), index, 6)))
    np.testing.assert_allclose(summed, frame.sum().to_numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(average_by_target(module, values, index, 6), frame.mean().to_numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no sample"):
        average_by_target(module, values, index, 7)


def test_the_gpu_group_sum_equals_pandas_on_the_cpu():
    # indicator_sum is what group_sum runs on a GPU (no atomic adds); its arithmetic is checked here on CPU tensors.
    import torch

    rng = np.random.default_rng(11)
    values = rng.standard_normal((40, 3)).astype(np.float32)
    index = rng.integers(0, 5, 40)
    summed = indicator_sum(torch.from_numpy(values), torch.from_numpy(index), 7).numpy()
    expected = pd.DataFrame(values.astype(np.float64)).assign(group=index).groupby("group").sum().reindex(range(7), fill_value=0.0)
    np.testing.assert_allclose(summed, expected.to_numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
def test_ridge_on_cuda_equals_numpy_and_repeats_exactly():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    X, Y = _problem(300, 500, 20)  # more voxels than samples: the dual form
    index = np.repeat(np.arange(100), 3)
    validation = np.zeros(100, dtype=bool)
    validation[::5] = True
    on_cpu = solve_ridge(X, Y[:100], [1.0, 100.0, 1e4], validation_mask=validation, target_index=index, backend="numpy")
    runs = [solve_ridge(X, Y[:100], [1.0, 100.0, 1e4], validation_mask=validation, target_index=index, backend="torch_cuda") for _ in range(2)]
    np.testing.assert_array_equal(runs[0].coef, runs[1].coef)  # two GPU runs: identical
    assert np.mean(runs[0].alpha == on_cpu.alpha) >= 0.9  # the same alphas chosen (near-ties may flip)
    np.testing.assert_allclose(runs[0].coef, on_cpu.coef, rtol=1e-3, atol=1e-4)


def test_symmetric_eigh_equals_scipy():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((15, 15))
    matrix = a @ a.T
    values, vectors = symmetric_eigh(NUMPY, matrix)
    np.testing.assert_allclose(values, scipy.linalg.eigh(matrix, eigvals_only=True), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(vectors @ np.diag(values) @ vectors.T, matrix, atol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_solve_ridge_one_alpha_equals_sklearn_ridge(backend):
    X, Y = _problem(50, 80, 3, seed=12)
    solution = solve_ridge(X, Y, [4.0], backend=backend)
    reference = Ridge(alpha=4.0).fit(X.astype(np.float64), Y.astype(np.float64))
    assert isinstance(solution, RidgeSolution) and solution.solver == "dual"
    assert solution.coef.dtype == np.float32 and solution.coef.shape == (80, 3)
    np.testing.assert_allclose(solution.coef, reference.coef_.T, atol=2e-4, rtol=1e-3)
    np.testing.assert_allclose(solution.intercept, reference.intercept_, atol=2e-4)
    np.testing.assert_array_equal(solution.alpha, 4.0)
    assert solution.validation_scores is None and solution.alpha_at_edge_fraction is None


def test_solve_ridge_grid_chooses_the_alpha_of_least_validation_error():
    X, Y = _problem(120, 20, 4, seed=13)
    mask = np.arange(120) % 5 == 0
    alphas = np.array([0.01, 1.0, 100.0, 1e4])
    solution = solve_ridge(X, Y, alphas, validation_mask=mask)
    errors = np.stack(
        [((Ridge(alpha=a).fit(X[~mask].astype(float), Y[~mask].astype(float)).predict(X[mask].astype(float)) - Y[mask]) ** 2).sum(0) for a in alphas]
    )
    np.testing.assert_array_equal(solution.alpha, alphas[errors.argmin(0)])
    refit = Ridge().fit(X.astype(float), Y.astype(float))
    for column, alpha in enumerate(solution.alpha):
        refit.set_params(alpha=alpha).fit(X.astype(float), Y[:, column].astype(float))
        np.testing.assert_allclose(solution.coef[:, column], refit.coef_, atol=2e-4, rtol=1e-3)
    assert solution.validation_scores.shape == (4, 4)
    assert 0.0 <= solution.alpha_at_edge_fraction <= 1.0


def test_bad_input_is_named():
    X, Y = _problem(20, 5, 2)
    with pytest.raises(ValueError, match="alphas must be a non-empty"):
        check_alphas([1.0, -1.0])
    with pytest.raises(ValueError, match="unknown solver 'qr'"):
        choose_solver("qr", 10, 5)
    assert choose_solver("auto", 10, 50) == "dual" and choose_solver("auto", 50, 10) == "primal"
    with pytest.raises(ValueError, match=r"X must be 2-D .*got shape \(20,\)"):
        check_ridge_inputs(X[:, 0], Y)
    with pytest.raises(ValueError, match="X has 20 rows but Y has 19"):
        check_ridge_inputs(X, Y[:19])
    with pytest.raises(ValueError, match=r"target_index values must lie in \[0, 2\)"):
        check_ridge_inputs(X, Y[:2], target_index=np.arange(20))
    with pytest.raises(ValueError, match=r"validation_mask must be bool of shape \(20,\)"):
        check_ridge_inputs(X, Y, validation_mask=np.zeros(20, int))
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        solve_ridge(X, Y, [1.0], backend="jax")
    with pytest.raises(ValueError, match="2 alphas given but no validation_mask"):
        solve_ridge(X, Y, [1.0, 2.0])
    with pytest.raises(ValueError, match="both validation"):
        solve_ridge(X, Y, [1.0, 2.0], validation_mask=np.ones(20, bool))
    with pytest.raises(ValueError, match="argmax_accuracy"):
        solve_ridge(X, Y, [1.0, 2.0], validation_mask=np.arange(20) < 5, scoring="argmax_accuracy")
