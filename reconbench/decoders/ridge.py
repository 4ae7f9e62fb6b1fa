"""Fast multi-output ridge decoders from voxels to targets.

The decoder is shared by the baselines and by the divide-and-conquer method.
It follows the scikit-learn estimator API (``__init__`` stores its arguments,
``fit`` returns ``self``, fitted state ends in ``_``) and runs on a himalaya
backend (``"numpy"`` or ``"torch"``, taken explicitly from
``himalaya.backend``; the global himalaya backend is never changed).

How it is fast
--------------
Ridge with any penalty ``alpha`` shares one eigendecomposition. With centred
voxels ``X`` (n_samples, n_voxels) and targets ``Y`` (n_samples, n_targets):

- primal form (n_samples >= n_voxels): ``X.T X = V diag(lam) V.T`` and
  ``coef(alpha) = V diag(1 / (lam + alpha)) V.T X.T Y``;
- dual (kernel) form (n_voxels > n_samples): ``X X.T = U diag(lam) U.T`` and
  ``coef(alpha) = X.T U diag(1 / (lam + alpha)) U.T Y``.

Both are written as ``prediction = A @ (C / (lam + alpha))`` with ``A`` the new
samples projected on the eigenvectors and ``C`` the targets projected on them,
so every alpha of the grid costs one ``(n_val, rank) @ (rank, n_targets)``
product on the validation fold, and the final per-target refit is a single
product whatever the alphas chosen (himalaya's CV solvers refit target batch by
target batch through ``(batch, rank, n_samples)`` tensors, which is what makes
per-target alphas slow there).

When the training samples are repeated trials of fewer unique targets (one
target row per stimulus, ``target_index`` giving the stimulus of each trial),
``X.T Y`` is computed as ``(P.T X).T Y`` with ``P`` the trial-to-stimulus
indicator, which costs per stimulus instead of per trial.

Validation
----------
Alphas are chosen on a fixed validation fold (``validation_mask``), not by
cross-validation: the fold of :class:`~reconbench.core.types.TrainData` is
per stimulus. When ``target_index`` is given, the validation predictions are
made from the responses averaged over the repetitions of each validation
stimulus, which is exactly what the decoder sees at test time (test fMRI is
averaged over repetitions). The criterion is the validation mean squared error
per target (``alpha_per_target=True``) or averaged over targets (shared alpha);
ties go to the larger alpha. For a classifier on one-hot targets,
``scoring="argmax_accuracy"`` picks the shared alpha whose predictions have the
most validation rows with the arg max at the true class (squared error there
favours the large alphas that predict the class frequencies, i.e. always the
largest class). With ``refit=True`` (default) the decoder is then
refitted on all training samples with the chosen alphas.

Trials or averages
------------------
:func:`fit_ridge_decoder` fits on single trials by default
(``samples="trials"``), as Shen et al. (2019) train their decoders; with
``samples="averaged"`` it fits on the responses averaged per training
stimulus. Test inputs are averaged in both cases.

Why one file of this length: the solvers (primal and kernel form, per-target penalties
on the fixed validation fold) and the thin estimator over them share backend helpers and
float order; the committed ridge scores depend bitwise on that code, so it was moved,
not rewritten. Splitting pure solvers into their own module is left for a change that
can be checked against the committed scores.
"""

from __future__ import annotations

import importlib
import numbers
from typing import Any, Sequence

import numpy as np

from reconbench.core.errors import DataError

#: Default alpha grid: 15 values, half a decade apart, from 0.1 to 1e6.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-1, 6, 15))

SOLVERS = ("auto", "primal", "dual")
BACKENDS = ("numpy", "torch")
SAMPLE_MODES = ("trials", "averaged")
SCORINGS = ("mse", "argmax_accuracy")


class NotFittedDecoderError(AttributeError):
    """``predict`` was called before ``fit``."""


def get_himalaya_backend(name: str):
    """Return the himalaya backend module ``name`` without making it global.

    Parameters
    ----------
    name : {"numpy", "torch"}

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`BACKENDS`.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    return importlib.import_module(f"himalaya.backend.{name}")


def _group_sum(backend, values, index, n_groups: int):
    """Sum the rows of ``values`` (n, k) into ``n_groups`` rows by ``index`` (n,).

    Not a second repetition average (that is :func:`reconbench.core.types.average_trials`):
    a sum inside the solver, in the backend's dtype and order, whose rounding
    the committed ridge scores depend on.
    """
    if backend.name == "numpy":
        import scipy.sparse

        n = values.shape[0]
        indicator = scipy.sparse.csr_matrix(
            (np.ones(n, dtype=values.dtype), (np.asarray(index), np.arange(n))), shape=(n_groups, n)
        )
        return np.asarray(indicator @ values)
    import torch

    out = torch.zeros((n_groups, values.shape[1]), dtype=values.dtype)
    return out.index_add_(0, torch.as_tensor(np.asarray(index), dtype=torch.long), values)


def _eigh(backend, matrix):
    """Eigendecomposition of a symmetric matrix in float64: (eigenvalues (r,), eigenvectors (r, r)).

    With the numpy backend LAPACK runs on one thread: its tridiagonal
    reduction is memory-bound and gains little from a second thread, while on
    shared cores a multi-threaded OpenBLAS ``syevd`` was measured 10x slower
    (14 s instead of 1.1 s for 1450 x 1450 on a loaded 2-core machine).
    """
    matrix = backend.asarray(matrix, dtype="float64")
    if backend.name != "numpy":
        return backend.eigh(matrix)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigh(matrix)


class _Spectrum:
    """One eigendecomposition of the training voxels, reused for every alpha.

    Parameters
    ----------
    backend : himalaya backend module
    X : array, shape (n_samples, n_voxels), float32
    Y : array, shape (n_groups, n_targets), float32
        Target rows; sample ``i`` has target ``Y[target_index[i]]``.
    target_index : ndarray, shape (n_samples,), int, or None
        None means one target row per sample.
    counts : ndarray, shape (n_groups,)
        Samples per target row (ones when ``target_index`` is None).
    solver : {"primal", "dual"}
    fit_intercept : bool

    Attributes
    ----------
    x_mean, y_mean : arrays, shapes (n_voxels,), (n_targets,)
    lam : array, shape (rank,), float32, eigenvalues (clipped at 0)
    C : array, shape (rank, n_targets), targets projected on the eigenvectors
    """

    def __init__(self, backend, X, Y, target_index, counts, solver: str, fit_intercept: bool):
        self.backend = backend
        self.solver = solver
        if fit_intercept:
            self.x_mean = X.mean(0)
            weights = backend.asarray(counts / counts.sum(), dtype="float32")
            self.y_mean = weights @ Y
            Xc = X - self.x_mean
        else:
            self.x_mean = backend.zeros_like(X, shape=(X.shape[1],))
            self.y_mean = backend.zeros_like(Y, shape=(Y.shape[1],))
            Xc = X
        # The centred X has zero column sums, so X.T (Y - y_mean) == X.T Y and
        # Y needs no centring here.
        if solver == "primal":
            gram = Xc.T @ Xc
            lam, vecs = _eigh(backend, gram)
            self.vecs = backend.asarray(vecs, dtype="float32")
            grouped = Xc if target_index is None else _group_sum(backend, Xc, target_index, Y.shape[0])
            xty = grouped.T @ Y
            self.C = self.vecs.T @ xty
        else:
            kernel = Xc @ Xc.T
            lam, vecs = _eigh(backend, kernel)
            self.vecs = backend.asarray(vecs, dtype="float32")
            grouped = self.vecs if target_index is None else _group_sum(backend, self.vecs, target_index, Y.shape[0])
            self.C = grouped.T @ Y
            self.Xc = Xc
        lam = backend.clip(lam, 0, None)
        self.lam = backend.asarray(lam, dtype="float32")
        self.lam64 = lam

    def project(self, X_new):
        """Return ``A`` (n_new, rank) such that predictions are ``A @ (C / (lam + alpha)) + y_mean``."""
        centred = X_new - self.x_mean
        if self.solver == "primal":
            return centred @ self.vecs
        return (centred @ self.Xc.T) @ self.vecs

    def shrinkage(self, alphas):
        """Return ``1 / (lam + alpha)`` of shape (rank, n_alphas) for alphas (n_alphas,)."""
        alphas64 = self.backend.asarray(alphas, dtype="float64")
        return self.backend.asarray(1.0 / (self.lam64[:, None] + alphas64[None, :]), dtype="float32")

    def coef(self, alpha_per_column):
        """Primal coefficients (n_voxels, n_targets) for one alpha per target column."""
        # One shrinkage column per distinct alpha, then gathered per target:
        # avoids a float64 (rank, n_targets) temporary.
        unique_alphas, column_of = np.unique(np.asarray(alpha_per_column, dtype=np.float64), return_inverse=True)
        shrink = self.shrinkage(unique_alphas)
        dual_part = self.C * shrink[:, self.backend.asarray(column_of.astype(np.int64)) if self.backend.name == "torch" else column_of]
        if self.solver == "primal":
            return self.vecs @ dual_part
        return self.Xc.T @ (self.vecs @ dual_part)


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
        return {
            name: getattr(self, name)
            for name in (
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
        }

    def set_params(self, **params: Any) -> "RidgeDecoder":
        """Set ``__init__`` arguments; unknown names raise ``ValueError``."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for RidgeDecoder; valid: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        return f"RidgeDecoder({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ------------------------------------------------------------------ checks
    def _checked_alphas(self) -> np.ndarray:
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise ValueError(f"alphas must be a non-empty 1-D sequence of finite values > 0, got {self.alphas!r}")
        return alphas

    def _choose_solver(self, n_samples: int, n_features: int) -> str:
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; valid solvers: {', '.join(SOLVERS)}")
        if self.solver == "auto":
            return "dual" if n_features > n_samples else "primal"
        return self.solver

    def _fit_pca(self, Y: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return (components (k, n_targets), mean (n_targets,)) or (None, None)."""
        if self.target_pca is None:
            return None, None
        n_rows, n_targets = Y.shape
        mean = Y.mean(0, dtype=np.float64)
        centred = Y.astype(np.float64) - mean
        # Economy decomposition on the smaller Gram matrix.
        if n_rows < n_targets:
            eigvals, left = np.linalg.eigh(centred @ centred.T)
            order = np.argsort(eigvals)[::-1]
            eigvals, left = np.clip(eigvals[order], 0, None), left[:, order]
            keep = eigvals > eigvals[0] * 1e-10
            eigvals, left = eigvals[keep], left[:, keep]
            components = (left.T @ centred) / np.sqrt(eigvals)[:, None]
        else:
            eigvals, right = np.linalg.eigh(centred.T @ centred)
            order = np.argsort(eigvals)[::-1]
            eigvals, components = np.clip(eigvals[order], 0, None), right[:, order].T
        # Fix each component's sign (largest absolute loading positive) so
        # that the decomposition is deterministic across LAPACK builds.
        signs = np.sign(components[np.arange(components.shape[0]), np.argmax(np.abs(components), axis=1)])
        components *= np.where(signs == 0, 1.0, signs)[:, None]
        if isinstance(self.target_pca, numbers.Integral) and not isinstance(self.target_pca, bool):
            if self.target_pca < 1:
                raise ValueError(f"target_pca must be >= 1 components, got {self.target_pca}")
            n_keep = min(int(self.target_pca), components.shape[0])
        elif isinstance(self.target_pca, numbers.Real) and 0 < float(self.target_pca) < 1:
            ratio = np.cumsum(eigvals) / max(eigvals.sum(), np.finfo(float).tiny)
            n_keep = int(np.searchsorted(ratio, float(self.target_pca)) + 1)
            n_keep = min(n_keep, components.shape[0])
        else:
            raise ValueError(
                f"target_pca must be None, an int >= 1 or a float in (0, 1), got {self.target_pca!r}"
            )
        return components[:n_keep].astype(np.float32), mean.astype(np.float32)

    # --------------------------------------------------------------------- fit
    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        validation_mask: np.ndarray | None = None,
        target_index: np.ndarray | None = None,
    ) -> "RidgeDecoder":
        """Fit the decoder.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_voxels)
            Voxel responses, one row per sample (e.g. per trial).
        Y : array-like, shape (n_samples, n_targets), or (n_groups, n_targets)
            Targets. With ``target_index``, one row per unique target (e.g. per
            stimulus) and sample ``i`` has target ``Y[target_index[i]]``.
        validation_mask : array-like of bool, shape (n_samples,) or (n_groups,)
            The validation fold, over the rows of ``Y``. Required when more
            than one alpha is given.
        target_index : array-like of int, shape (n_samples,), optional
            Row of ``Y`` of each sample. Validation predictions are then made
            from the samples averaged per validation target row.

        Returns
        -------
        self
        """
        backend = get_himalaya_backend(self.backend)
        alphas = self._checked_alphas()
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_voxels), got shape {X.shape}")
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2:
            raise ValueError(f"Y must be 2-D (n_rows, n_targets), got shape {Y.shape}")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
            raise ValueError("X and Y must be finite (found NaN or inf)")
        n_samples, n_features = X.shape
        n_rows = Y.shape[0]
        if target_index is None:
            if n_rows != n_samples:
                raise ValueError(f"X has {n_samples} rows but Y has {n_rows}; pass target_index for grouped targets")
        else:
            target_index = np.asarray(target_index)
            if target_index.shape != (n_samples,) or not np.issubdtype(target_index.dtype, np.integer):
                raise ValueError(f"target_index must be ints of shape ({n_samples},), got {target_index.dtype} {target_index.shape}")
            if target_index.min() < 0 or target_index.max() >= n_rows:
                raise ValueError(f"target_index values must lie in [0, {n_rows}), got [{target_index.min()}, {target_index.max()}]")
        if validation_mask is not None:
            validation_mask = np.asarray(validation_mask)
            if validation_mask.shape != (n_rows,) or validation_mask.dtype != bool:
                raise ValueError(f"validation_mask must be bool of shape ({n_rows},), got {validation_mask.dtype} {validation_mask.shape}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"unknown scoring {self.scoring!r}; valid: {', '.join(SCORINGS)}")
        if self.scoring == "argmax_accuracy" and (self.alpha_per_target or self.target_pca is not None):
            raise ValueError("scoring='argmax_accuracy' needs alpha_per_target=False and target_pca=None")
        if alphas.size > 1 and validation_mask is None:
            raise ValueError(f"{alphas.size} alphas given but no validation_mask to choose among them")

        self.pca_components_, self.pca_mean_ = self._fit_pca(Y)
        outputs = Y if self.pca_components_ is None else (Y - self.pca_mean_) @ self.pca_components_.T
        outputs = np.ascontiguousarray(outputs, dtype=np.float32)
        n_outputs = outputs.shape[1]

        self.validation_scores_ = None
        self.best_validation_score_ = None
        self.validation_accuracy_ = None
        self.alpha_at_edge_fraction_ = None
        spectrum_all = None
        if alphas.size == 1:
            chosen = np.full(n_outputs, alphas[0])
        else:
            if validation_mask.all() or not validation_mask.any():
                raise ValueError("validation_mask must have both validation (True) and training (False) rows")
            sample_is_val = validation_mask if target_index is None else validation_mask[target_index]
            if sample_is_val.all() or not sample_is_val.any():
                raise ValueError("validation_mask leaves no training or no validation samples")
            train_rows = np.flatnonzero(~validation_mask)
            val_rows = np.flatnonzero(validation_mask)
            if target_index is None:
                X_val = X[val_rows]
                spectrum = self._spectrum(backend, X[train_rows], outputs[train_rows], None, n_features)
            else:
                # Renumber the training targets 0..n_train_rows-1.
                row_to_train = np.full(n_rows, -1)
                row_to_train[train_rows] = np.arange(train_rows.size)
                train_samples = ~sample_is_val
                spectrum = self._spectrum(
                    backend,
                    X[train_samples],
                    outputs[train_rows],
                    row_to_train[target_index[train_samples]],
                    n_features,
                )
                # Test-time condition: responses averaged over repetitions.
                row_to_val = np.full(n_rows, -1)
                row_to_val[val_rows] = np.arange(val_rows.size)
                val_samples = sample_is_val
                sums = _group_sum(backend, backend.asarray(X[val_samples]), row_to_val[target_index[val_samples]], val_rows.size)
                counts = np.bincount(row_to_val[target_index[val_samples]], minlength=val_rows.size)
                if np.any(counts == 0):
                    raise ValueError("some validation targets have no sample")
                X_val = backend.to_numpy(sums) / counts[:, None].astype(np.float32)
            sse, sst, accuracy = self._validation_errors(backend, spectrum, X_val, outputs[val_rows], alphas)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), 0.0)
            # Ties go to the larger alpha: the same slope trick as himalaya.
            tie_break = np.log(alphas)[:, None] * 1e-10
            if self.scoring == "argmax_accuracy":
                best = np.full(n_outputs, int(np.argmax(accuracy + tie_break[:, 0])))
                self.validation_accuracy_ = accuracy
            elif self.alpha_per_target:
                # per target any positive scale works; sst = 0 (constant validation target) keeps raw SSE
                criterion = -sse / np.where(sst > 0, sst, 1.0) + tie_break
                best = np.argmax(criterion, axis=0)
            else:
                best = np.full(n_outputs, int(np.argmax(-sse.mean(1) / max(sst.mean(), 1e-300) + tie_break[:, 0])))
            chosen = alphas[best]
            self.validation_scores_ = r2.astype(np.float64)
            self.best_validation_score_ = r2[best, np.arange(n_outputs)]
            self.alpha_at_edge_fraction_ = float(np.mean((best == 0) | (best == alphas.size - 1)))
            if not self.refit:
                spectrum_all = spectrum
        if spectrum_all is None:
            spectrum_all = self._spectrum(backend, X, outputs, target_index, n_features)
        coef = spectrum_all.coef(chosen)
        intercept = spectrum_all.y_mean - spectrum_all.x_mean @ coef
        self.coef_ = np.ascontiguousarray(backend.to_numpy(coef), dtype=np.float32)
        self.intercept_ = np.asarray(backend.to_numpy(intercept), dtype=np.float32)
        self.alpha_ = chosen.astype(np.float64)
        self.solver_ = spectrum_all.solver
        self.n_features_in_ = n_features
        self.n_targets_ = Y.shape[1]
        return self

    def _spectrum(self, backend, X, Y, target_index, n_features) -> _Spectrum:
        n_samples = X.shape[0]
        solver = self._choose_solver(n_samples, n_features)
        counts = np.ones(Y.shape[0]) if target_index is None else np.bincount(target_index, minlength=Y.shape[0]).astype(np.float64)
        return _Spectrum(
            backend,
            backend.asarray(X, dtype="float32"),
            backend.asarray(Y, dtype="float32"),
            target_index,
            counts,
            solver,
            self.fit_intercept,
        )

    def _validation_errors(self, backend, spectrum, X_val, Y_val, alphas):
        """Return validation SSE (n_alphas, n_outputs), SST (n_outputs,) and, with
        ``scoring="argmax_accuracy"``, the arg-max accuracy per alpha (n_alphas,), else None."""
        projected = spectrum.project(backend.asarray(X_val, dtype="float32"))
        shrink = spectrum.shrinkage(alphas)
        Y_val = backend.asarray(Y_val, dtype="float32")
        n_outputs = Y_val.shape[1]
        want_accuracy = self.scoring == "argmax_accuracy"
        # The arg max needs every output of a row at once.
        batch = n_outputs if want_accuracy else (self.n_targets_batch or n_outputs)
        sse = np.zeros((alphas.size, n_outputs))
        accuracy = np.zeros(alphas.size) if want_accuracy else None
        true_class = backend.to_numpy(Y_val).argmax(1) if want_accuracy else None
        residual_base = Y_val - spectrum.y_mean
        for start in range(0, n_outputs, batch):
            cols = slice(start, start + batch)
            C = spectrum.C[:, cols]
            base = residual_base[:, cols]
            for k in range(alphas.size):
                residual = base - projected @ (C * shrink[:, k : k + 1])
                sse[k, cols] = backend.to_numpy((residual * residual).sum(0))
                if want_accuracy:
                    # prediction = Y_val - residual; compare its arg max with the class
                    predicted = backend.to_numpy(Y_val[:, cols] - residual)
                    accuracy[k] = float(np.mean(predicted.argmax(1) == true_class))
        Y_val_np = np.asarray(backend.to_numpy(Y_val), dtype=np.float64)
        sst = ((Y_val_np - Y_val_np.mean(0)) ** 2).sum(0)
        return sse, sst, accuracy

    # ----------------------------------------------------------------- predict
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
        """Predict targets.

        Parameters
        ----------
        X : array-like, shape (n, n_voxels)

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
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.where(sse == 0, 1.0, 0.0))
        return float(r2.mean())


def fit_ridge_decoder(
    train,
    roi: str,
    targets: np.ndarray,
    *,
    samples: str = "trials",
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
    decoder = RidgeDecoder(**decoder_params)
    if samples == "trials":
        return decoder.fit(
            train.fmri[roi],
            targets,
            validation_mask=np.asarray(train.validation_mask, dtype=bool),
            target_index=np.asarray(train.trial_image_index, dtype=np.int64),
        )
    if samples == "averaged":
        return decoder.fit(
            train.averaged_fmri(roi), targets, validation_mask=np.asarray(train.validation_mask, dtype=bool)
        )
    raise ValueError(f"unknown samples={samples!r}; valid: {', '.join(SAMPLE_MODES)}")
