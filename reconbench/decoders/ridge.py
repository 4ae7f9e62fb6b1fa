"""The shared ridge decoder: a thin scikit-learn style estimator over the pure solvers.

The decoder is shared by the baselines and by the divide-and-conquer method.
:class:`RidgeDecoder` follows the scikit-learn estimator API (``__init__``
stores its arguments, ``fit`` returns ``self``, fitted state ends in ``_``);
its ``fit`` checks the arrays, optionally replaces the targets by their
principal components (``target_pca``), and hands the rest to
:func:`reconbench.decoders.ridge_solvers.solve_ridge`, whose docstring says how
the primal and kernel forms share one eigendecomposition across every alpha
and how alphas are chosen on the fixed validation fold.

Trials or averages
------------------
:func:`fit_ridge_decoder` fits on single trials by default
(``samples="trials"``), as Shen et al. (2019) train their decoders; with
``samples="averaged"`` it fits on the responses averaged per training
stimulus. Test inputs are averaged in both cases.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from reconbench.core.errors import DataError
from reconbench.decoders.ridge_solvers import (  # noqa: F401 - BACKENDS, SCORINGS, SOLVERS re-exported with the estimator
    BACKENDS,
    DEFAULT_ALPHAS,
    SCORINGS,
    SOLVERS,
    backend_for_device,
    check_ridge_inputs,
    r2_from_errors,
    solve_ridge,
    target_pca,
)

SAMPLE_MODES = ("trials", "averaged")

#: The ``__init__`` arguments of :class:`RidgeDecoder`, in order.
_PARAMETERS = (
    "alphas",
    "alpha_per_target",
    "scoring",
    "target_pca",
    "fit_intercept",
    "solver",
    "refit",
    "backend",
    "n_targets_batch",
)


class NotFittedDecoderError(AttributeError):
    """``predict`` was called before ``fit``."""


class RidgeDecoder:
    """Multi-output ridge regression with alphas chosen on a fixed validation fold.

    Parameters
    ----------
    alphas : sequence of float, default :data:`DEFAULT_ALPHAS`
        Penalties tried (all > 0). With one value no validation is needed.
    alpha_per_target : bool, default True
        Choose one alpha per target (per PCA component with ``target_pca``) or
        one alpha shared by all targets (lowest mean validation error).
    scoring : {"mse", "argmax_accuracy"}, default "mse"
        Validation criterion. ``"argmax_accuracy"`` (one-hot class targets;
        needs ``alpha_per_target=False`` and no ``target_pca``) maximises the
        fraction of validation rows whose largest prediction is the target's
        largest entry.
    target_pca : None, int or float, default None
        Decode principal components of the targets instead of the targets:
        an int keeps that many components, a float in (0, 1) keeps the
        fewest components explaining that fraction of target variance. The
        PCA is fitted on the target rows passed to ``fit`` (training data).
    fit_intercept : bool, default True
        Centre voxels and targets on the fitting samples.
    solver : {"auto", "primal", "dual"}, default "auto"
        ``"dual"`` (kernel form) when voxels outnumber samples under "auto".
    refit : bool, default True
        Refit on all samples (training and validation fold) with the chosen
        alphas; otherwise keep the model fitted on the training fold only.
    backend : {"numpy", "torch"}, default "numpy"
        himalaya backend used for the linear algebra (CPU).
    n_targets_batch : int or None, default None
        Score validation predictions this many targets at a time (memory).

    Attributes
    ----------
    coef_ : ndarray, shape (n_voxels, n_outputs), float32
        Coefficients; ``n_outputs`` is the number of PCA components with
        ``target_pca``, else the number of targets.
    intercept_ : ndarray, shape (n_outputs,), float32
    alpha_ : ndarray, shape (n_outputs,), float64
        Chosen alpha per output (all equal when ``alpha_per_target=False``).
    validation_scores_ : ndarray, shape (n_alphas, n_outputs), or None
        Validation R^2 of each alpha and output (None with a single alpha).
    best_validation_score_ : ndarray, shape (n_outputs,), or None
        Validation R^2 at the chosen alpha.
    validation_accuracy_ : ndarray, shape (n_alphas,), or None
        Arg-max accuracy of each alpha with ``scoring="argmax_accuracy"``.
    alpha_at_edge_fraction_ : float or None
        Fraction of outputs whose alpha is the smallest or largest of the grid
        (a large value says the grid should be widened).
    pca_components_ : ndarray, shape (n_components, n_targets), or None
    pca_mean_ : ndarray, shape (n_targets,), or None
    solver_ : str
        ``"primal"`` or ``"dual"``.
    n_features_in_ : int
    n_targets_ : int
    """

    def __init__(
        self,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        alpha_per_target: bool = True,
        scoring: str = "mse",
        target_pca: int | float | None = None,
        fit_intercept: bool = True,
        solver: str = "auto",
        refit: bool = True,
        backend: str = "numpy",
        n_targets_batch: int | None = None,
    ):
        self.alphas = alphas
        self.alpha_per_target = alpha_per_target
        self.scoring = scoring
        self.target_pca = target_pca
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.refit = refit
        self.backend = backend
        self.n_targets_batch = n_targets_batch

    # scikit-learn compatible parameter access (clone semantics)
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the ``__init__`` arguments as stored."""
        return {name: getattr(self, name) for name in _PARAMETERS}

    def set_params(self, **params: Any) -> "RidgeDecoder":
        """Set ``__init__`` arguments; unknown names raise ``ValueError``."""
        for key, value in params.items():
            if key not in _PARAMETERS:
                raise ValueError(f"invalid parameter {key!r} for RidgeDecoder; valid: {', '.join(_PARAMETERS)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        return f"RidgeDecoder({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        validation_mask: np.ndarray | None = None,
        target_index: np.ndarray | None = None,
    ) -> "RidgeDecoder":
        """Fit the decoder: target PCA if asked, then :func:`~reconbench.decoders.ridge_solvers.solve_ridge`.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_voxels)
        Y : array-like, shape (n_samples, n_targets), or (n_rows, n_targets) with ``target_index``
        validation_mask : array-like of bool, shape (n_rows,), optional
            Required when more than one alpha is given.
        target_index : array-like of int, shape (n_samples,), optional
            As in :func:`~reconbench.decoders.ridge_solvers.solve_ridge`.

        Returns
        -------
        self
        """
        if self.scoring == "argmax_accuracy" and self.target_pca is not None:
            raise ValueError("scoring='argmax_accuracy' needs alpha_per_target=False and target_pca=None")
        X, Y, validation_mask, target_index = check_ridge_inputs(X, Y, validation_mask, target_index)
        if self.target_pca is None:
            self.pca_components_, self.pca_mean_ = None, None
            outputs = Y
        else:
            self.pca_components_, self.pca_mean_ = target_pca(Y, self.target_pca)
            outputs = (Y - self.pca_mean_) @ self.pca_components_.T
        solution = solve_ridge(
            X,
            outputs,
            self.alphas,
            validation_mask=validation_mask,
            target_index=target_index,
            alpha_per_target=self.alpha_per_target,
            scoring=self.scoring,
            fit_intercept=self.fit_intercept,
            solver=self.solver,
            refit=self.refit,
            backend=self.backend,
            n_targets_batch=self.n_targets_batch,
        )
        self.coef_ = solution.coef
        self.intercept_ = solution.intercept
        self.alpha_ = solution.alpha
        self.validation_scores_ = solution.validation_scores
        self.best_validation_score_ = solution.best_validation_score
        self.validation_accuracy_ = solution.validation_accuracy
        self.alpha_at_edge_fraction_ = solution.alpha_at_edge_fraction
        self.solver_ = solution.solver
        self.n_features_in_ = X.shape[1]
        self.n_targets_ = Y.shape[1]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedDecoderError("this RidgeDecoder is not fitted yet; call fit() first")

    def predict_outputs(self, X: np.ndarray) -> np.ndarray:
        """Predict the decoded outputs (PCA components with ``target_pca``).

        Parameters
        ----------
        X : array-like, shape (n, n_voxels)

        Returns
        -------
        ndarray, shape (n, n_outputs), float32
        """
        self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n, {self.n_features_in_}), got {X.shape}")
        return X @ self.coef_ + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict targets: ``predict_outputs`` mapped back from PCA components when ``target_pca`` is set.

        Returns
        -------
        ndarray, shape (n, n_targets), float32
        """
        outputs = self.predict_outputs(X)
        if self.pca_components_ is None:
            return outputs
        return (outputs @ self.pca_components_ + self.pca_mean_).astype(np.float32)

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Mean R^2 over targets (scikit-learn's ``r2_score`` uniform average)."""
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        pred = self.predict(X).astype(np.float64)
        sse = ((Y - pred) ** 2).sum(0)
        sst = ((Y - Y.mean(0)) ** 2).sum(0)
        # A constant target: 1 when predicted exactly, else 0 (scikit-learn's convention).
        return float(r2_from_errors(sse, sst, constant=np.where(sse == 0, 1.0, 0.0)).mean())


def fit_ridge_decoder(
    train,
    roi: str,
    targets: np.ndarray,
    *,
    samples: str = "trials",
    device: str = "cpu",
    **decoder_params: Any,
) -> RidgeDecoder:
    """Fit a :class:`RidgeDecoder` from one ROI of a ``TrainData`` to per-image targets.

    Parameters
    ----------
    train : reconbench.core.types.TrainData
    roi : str
        Key of ``train.fmri`` (e.g. ``"LVC"``, ``"HVC"``, ``"VC"``).
    targets : ndarray, shape (S, n_targets)
        One row per training image (``train.images`` order).
    samples : {"trials", "averaged"}, default "trials"
        Fit on single trials (Shen et al. 2019) or on responses averaged per
        image. Alphas are chosen on ``train.validation_mask`` with validation
        responses averaged per image in both cases.
    device : str, default "cpu"
        The run's device: on a CUDA device the solve runs there (himalaya's ``torch_cuda``
        backend, :func:`~reconbench.decoders.ridge_solvers.backend_for_device`), on the CPU
        with numpy as always.
    **decoder_params
        Passed to :class:`RidgeDecoder`.

    Returns
    -------
    RidgeDecoder, fitted
    """

    if roi not in train.fmri:
        raise DataError(f"ROI {roi!r} is not in the training data; available: {', '.join(sorted(train.fmri))}")
    targets = np.asarray(targets, dtype=np.float32)
    n_images = train.images.shape[0]
    if targets.ndim != 2 or targets.shape[0] != n_images:
        raise ValueError(f"targets must have shape ({n_images}, n_targets), got {targets.shape}")
    if samples not in SAMPLE_MODES:
        raise ValueError(f"unknown samples={samples!r}; valid: {', '.join(SAMPLE_MODES)}")
    backend = backend_for_device(device)
    if backend != "numpy":
        decoder_params.setdefault("backend", backend)
    decoder = RidgeDecoder(**decoder_params)
    validation_mask = np.asarray(train.validation_mask, dtype=bool)
    with _on_gpu(device):
        if samples == "trials":
            return decoder.fit(train.fmri[roi], targets, validation_mask=validation_mask, target_index=np.asarray(train.trial_image_index, dtype=np.int64))
        return decoder.fit(train.averaged_fmri(roi), targets, validation_mask=validation_mask)


def _on_gpu(device: str):
    """Make ``device``'s GPU the current one for the block (himalaya's ``torch_cuda`` uses the current GPU)."""
    from contextlib import nullcontext

    from reconbench.core.device import is_cuda, torch_device

    if not is_cuda(device):
        return nullcontext()
    import torch

    return torch.cuda.device(torch_device(device))
