"""Pure solvers of multi-output ridge regression, with penalties chosen on a fixed validation fold.

Functions of arrays, no estimator state: :func:`solve_ridge` takes voxels and
targets and returns a :class:`RidgeSolution`; the scikit-learn style estimator
:class:`reconbench.decoders.ridge.RidgeDecoder` is a thin layer over it (its
parameters, optional target PCA, ``predict``). The linear algebra runs on a
himalaya backend (``"numpy"`` or ``"torch"``, taken explicitly from
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
samples projected on the eigenvectors and ``C`` the targets projected on them
(:class:`RidgeSpectrum`), so every alpha of the grid costs one
``(n_val, rank) @ (rank, n_targets)`` product on the validation fold, and the
final per-target refit is a single product whatever the alphas chosen
(himalaya's CV solvers refit target batch by target batch through
``(batch, rank, n_samples)`` tensors, which is what makes per-target alphas
slow there). The two forms differ only in the space the eigenvectors live in
(voxels or samples): :meth:`RidgeSpectrum.project` and :meth:`RidgeSpectrum.coef`
map into and out of that space, and everything else is shared.

When the training samples are repeated trials of fewer unique targets (one
target row per stimulus, ``target_index`` giving the stimulus of each trial),
``X.T Y`` is computed as ``(P.T X).T Y`` with ``P`` the trial-to-stimulus
indicator (:func:`group_sum`), which costs per stimulus instead of per trial.

Validation
----------
Alphas are chosen on a fixed validation fold (``validation_mask``), not by
cross-validation: the fold of :class:`~reconbench.core.types.TrainData` is per
stimulus. When ``target_index`` is given, the validation predictions are made
from the responses averaged over the repetitions of each validation stimulus
(:func:`average_by_target`), which is exactly what a decoder sees at test time
(test fMRI is averaged over repetitions). :func:`select_alphas` takes the
validation mean squared error per target (``alpha_per_target=True``) or
averaged over targets (shared alpha); ties go to the larger alpha. For a
classifier on one-hot targets, ``scoring="argmax_accuracy"`` picks the shared
alpha whose predictions have the most validation rows with the arg max at the
true class (squared error there favours the large alphas that predict the class
frequencies, i.e. always the largest class).

Float order
-----------
The committed ridge scores depend bitwise on these operations (float32 products
in this order, float64 eigendecompositions, the single-threaded LAPACK call of
:func:`symmetric_eigh`). The code was split out of the estimator without
changing any of them, and the ``tiny`` and ``ci`` scores were compared value by
value before and after; change the arithmetic only with a rerun of both.
"""

from __future__ import annotations

import importlib
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Default alpha grid: 15 values, half a decade apart, from 0.1 to 1e6.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-1, 6, 15))

SOLVERS = ("auto", "primal", "dual")
BACKENDS = ("numpy", "torch", "torch_cuda")


def backend_for_device(device: str) -> str:
    """The backend of a run's device: ``"numpy"`` on the CPU (every committed result), himalaya's
    ``"torch_cuda"`` on a CUDA device (the caller selects the GPU, see
    :func:`reconbench.decoders.ridge.fit_ridge_decoder`)."""
    from reconbench.core.device import is_cuda

    return "torch_cuda" if is_cuda(device) else "numpy"


SCORINGS = ("mse", "argmax_accuracy")


def get_himalaya_backend(name: str):
    """Return the himalaya backend module ``name`` without making it global.

    Parameters
    ----------
    name : {"numpy", "torch", "torch_cuda"}

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`BACKENDS`.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    return importlib.import_module(f"himalaya.backend.{name}")


def check_alphas(alphas: Sequence[float] | float) -> np.ndarray:
    """Return ``alphas`` as a float64 array of shape (n_alphas,), all finite and > 0.

    Raises
    ------
    ValueError
        If the grid is empty, not 1-D, or has a value that is not finite and > 0.
    """
    checked = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if checked.ndim != 1 or checked.size == 0 or not np.all(np.isfinite(checked)) or np.any(checked <= 0):
        raise ValueError(f"alphas must be a non-empty 1-D sequence of finite values > 0, got {alphas!r}")
    return checked


def choose_solver(solver: str, n_samples: int, n_features: int) -> str:
    """Resolve ``solver`` (one of :data:`SOLVERS`) to ``"primal"`` or ``"dual"``.

    ``"auto"`` gives the dual (kernel) form when voxels outnumber samples.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; valid solvers: {', '.join(SOLVERS)}")
    if solver == "auto":
        return "dual" if n_features > n_samples else "primal"
    return solver


def group_sum(backend, values, index, n_groups: int):
    """Sum the rows of ``values`` (n, k) into ``n_groups`` rows by ``index`` (n,).

    Not a second repetition average (that is :func:`reconbench.core.types.average_trials`):
    a sum inside the solver, in the backend's dtype and order, whose rounding
    the committed ridge scores depend on.

    Returns
    -------
    array of the backend, shape (n_groups, k), dtype of ``values``
    """
    if backend.name == "numpy":
        import scipy.sparse

        n = values.shape[0]
        indicator = scipy.sparse.csr_matrix((np.ones(n, dtype=values.dtype), (np.asarray(index), np.arange(n))), shape=(n_groups, n))
        return np.asarray(indicator @ values)
    import torch

    index = torch.as_tensor(np.asarray(index), dtype=torch.long, device=values.device)
    if values.device.type != "cpu":
        return indicator_sum(values, index, n_groups)
    out = torch.zeros((n_groups, values.shape[1]), dtype=values.dtype)
    return out.index_add_(0, index, values)


def indicator_sum(values, index, n_groups: int):
    """:func:`group_sum` of torch tensors as the product of a 0/1 indicator matrix (n_groups, n) with
    ``values``, on their device: on a GPU, where ``index_add_``'s atomic adds would make the order of
    the sums vary from run to run."""
    import torch

    indicator = torch.zeros((n_groups, values.shape[0]), dtype=values.dtype, device=values.device)
    indicator[index, torch.arange(values.shape[0], device=values.device)] = 1
    return indicator @ values


def _rows_per_target(backend, values, target_index, n_targets: int):
    """``values`` (one row per sample) summed per target row, or unchanged when each sample is its own target."""
    return values if target_index is None else group_sum(backend, values, target_index, n_targets)


def symmetric_eigh(backend, matrix):
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


class RidgeSpectrum:
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
    vecs : array, shape (rank, rank), float32, eigenvectors of ``X.T X``
        (primal, ``rank = n_voxels``) or of ``X X.T`` (dual, ``rank = n_samples``)
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
        # Dual form: the eigenvectors live in sample space, and X maps them to voxels.
        self.Xc = Xc if solver == "dual" else None
        lam, vecs = symmetric_eigh(backend, Xc.T @ Xc if solver == "primal" else Xc @ Xc.T)
        self.vecs = backend.asarray(vecs, dtype="float32")
        # The centred X has zero column sums, so X.T (Y - y_mean) == X.T Y and
        # Y needs no centring here.
        if solver == "primal":
            self.C = self.vecs.T @ (_rows_per_target(backend, Xc, target_index, Y.shape[0]).T @ Y)
        else:
            self.C = _rows_per_target(backend, self.vecs, target_index, Y.shape[0]).T @ Y
        lam = backend.clip(lam, 0, None)
        self.lam = backend.asarray(lam, dtype="float32")
        self.lam64 = lam

    def project(self, X_new):
        """Return ``A`` (n_new, rank) such that predictions are ``A @ (C / (lam + alpha)) + y_mean``."""
        centred = X_new - self.x_mean
        if self.Xc is not None:
            centred = centred @ self.Xc.T  # into sample space
        return centred @ self.vecs

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
        dual_part = self.C * shrink[:, self.backend.asarray(column_of.astype(np.int64)) if self.backend.name.startswith("torch") else column_of]
        coef = self.vecs @ dual_part
        return coef if self.Xc is None else self.Xc.T @ coef  # back from sample space


def ridge_spectrum(backend, X, Y, target_index=None, *, solver: str = "auto", fit_intercept: bool = True) -> RidgeSpectrum:
    """Decompose the ridge problem of ``X`` (n_samples, n_voxels) and target rows ``Y`` (n_rows, n_targets).

    ``target_index`` (n_samples,) gives the row of ``Y`` of each sample (None: one
    row per sample); ``solver`` is resolved by :func:`choose_solver`.
    """
    counts = np.ones(Y.shape[0]) if target_index is None else np.bincount(target_index, minlength=Y.shape[0]).astype(np.float64)
    return RidgeSpectrum(
        backend,
        backend.asarray(X, dtype="float32"),
        backend.asarray(Y, dtype="float32"),
        target_index,
        counts,
        choose_solver(solver, X.shape[0], X.shape[1]),
        fit_intercept,
    )


def average_by_target(backend, X: np.ndarray, target_index: np.ndarray, n_rows: int) -> np.ndarray:
    """Average the samples of each target row: ``X`` (n_samples, n_voxels) -> (n_rows, n_voxels), float32.

    ``target_index`` (n_samples,) holds values in ``[0, n_rows)``; every row must have a sample.
    """
    sums = group_sum(backend, backend.asarray(X), target_index, n_rows)
    counts = np.bincount(target_index, minlength=n_rows)
    if np.any(counts == 0):
        raise ValueError("some validation targets have no sample")
    return backend.to_numpy(sums) / counts[:, None].astype(np.float32)


def validation_errors(
    backend, spectrum: RidgeSpectrum, X_val, Y_val, alphas: np.ndarray, *, argmax_accuracy: bool = False, n_targets_batch: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validation errors of every alpha.

    Parameters
    ----------
    backend : himalaya backend module
    spectrum : RidgeSpectrum
        Fitted on the training fold.
    X_val : ndarray, shape (n_val, n_voxels)
    Y_val : ndarray, shape (n_val, n_targets)
    alphas : ndarray, shape (n_alphas,)
    argmax_accuracy : bool
        Also compute, per alpha, the fraction of rows whose largest prediction
        is at the largest entry of ``Y_val``.
    n_targets_batch : int, optional
        Score this many targets at a time (memory; ignored with ``argmax_accuracy``,
        which needs every target of a row at once).

    Returns
    -------
    sse : ndarray, shape (n_alphas, n_targets), float64
    sst : ndarray, shape (n_targets,), float64
        Sum of squares of ``Y_val`` about its mean.
    accuracy : ndarray, shape (n_alphas,), or None
    """
    projected = spectrum.project(backend.asarray(X_val, dtype="float32"))
    shrink = spectrum.shrinkage(alphas)
    Y_val = backend.asarray(Y_val, dtype="float32")
    n_outputs = Y_val.shape[1]
    batch = n_outputs if argmax_accuracy else (n_targets_batch or n_outputs)
    sse = np.zeros((alphas.size, n_outputs))
    accuracy = np.zeros(alphas.size) if argmax_accuracy else None
    true_class = backend.to_numpy(Y_val).argmax(1) if argmax_accuracy else None
    residual_base = Y_val - spectrum.y_mean
    for start in range(0, n_outputs, batch):
        cols = slice(start, start + batch)
        C = spectrum.C[:, cols]
        base = residual_base[:, cols]
        for k in range(alphas.size):
            residual = base - projected @ (C * shrink[:, k : k + 1])
            sse[k, cols] = backend.to_numpy((residual * residual).sum(0))
            if argmax_accuracy:
                # prediction = Y_val - residual; compare its arg max with the class
                predicted = backend.to_numpy(Y_val[:, cols] - residual)
                accuracy[k] = float(np.mean(predicted.argmax(1) == true_class))
    Y_val_np = np.asarray(backend.to_numpy(Y_val), dtype=np.float64)
    sst = ((Y_val_np - Y_val_np.mean(0)) ** 2).sum(0)
    return sse, sst, accuracy


def r2_from_errors(sse: np.ndarray, sst: np.ndarray, *, constant: float | np.ndarray = 0.0) -> np.ndarray:
    """Coefficient of determination ``1 - sse / sst``; ``constant`` where ``sst == 0`` (a constant target)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), constant)


def select_alphas(sse: np.ndarray, sst: np.ndarray, alphas: np.ndarray, *, alpha_per_target: bool = True, accuracy: np.ndarray | None = None) -> np.ndarray:
    """Index into ``alphas`` of the chosen alpha of each target; ties go to the larger alpha.

    Parameters
    ----------
    sse : ndarray, shape (n_alphas, n_targets)
    sst : ndarray, shape (n_targets,)
    alphas : ndarray, shape (n_alphas,)
    alpha_per_target : bool
        One alpha per target (lowest SSE / SST) or one shared alpha (lowest
        mean SSE over the mean SST).
    accuracy : ndarray, shape (n_alphas,), optional
        When given, the shared alpha of highest accuracy (``scoring="argmax_accuracy"``).

    Returns
    -------
    ndarray, shape (n_targets,), int
    """
    n_outputs = sse.shape[1]
    # Ties go to the larger alpha: the same slope trick as himalaya.
    tie_break = np.log(alphas)[:, None] * 1e-10
    if accuracy is not None:
        return np.full(n_outputs, int(np.argmax(accuracy + tie_break[:, 0])))
    if alpha_per_target:
        # per target any positive scale works; sst = 0 (constant validation target) keeps raw SSE
        criterion = -sse / np.where(sst > 0, sst, 1.0) + tie_break
        return np.argmax(criterion, axis=0)
    return np.full(n_outputs, int(np.argmax(-sse.mean(1) / max(sst.mean(), 1e-300) + tie_break[:, 0])))


def target_pca(Y: np.ndarray, n_components: int | float) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of the target rows ``Y`` (n_rows, n_targets), fitted in float64.

    Parameters
    ----------
    n_components : int >= 1 or float in (0, 1)
        That many components, or the fewest explaining that fraction of the variance.

    Returns
    -------
    components : ndarray, shape (k, n_targets), float32
        Each component's largest absolute loading is positive.
    mean : ndarray, shape (n_targets,), float32
    """
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
    if isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool):
        if n_components < 1:
            raise ValueError(f"target_pca must be >= 1 components, got {n_components}")
        n_keep = min(int(n_components), components.shape[0])
    elif isinstance(n_components, numbers.Real) and 0 < float(n_components) < 1:
        ratio = np.cumsum(eigvals) / max(eigvals.sum(), np.finfo(float).tiny)
        n_keep = int(np.searchsorted(ratio, float(n_components)) + 1)
        n_keep = min(n_keep, components.shape[0])
    else:
        raise ValueError(f"target_pca must be None, an int >= 1 or a float in (0, 1), got {n_components!r}")
    return components[:n_keep].astype(np.float32), mean.astype(np.float32)


def check_ridge_inputs(
    X: Any, Y: Any, validation_mask: Any = None, target_index: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Check and convert the arrays of a ridge problem (see :func:`solve_ridge`).

    Returns
    -------
    X : ndarray, shape (n_samples, n_voxels), float32
    Y : ndarray, shape (n_rows, n_targets), float32 (a 1-D ``Y`` becomes one column)
    validation_mask : ndarray, shape (n_rows,), bool, or None
    target_index : ndarray, shape (n_samples,), int, or None

    Raises
    ------
    ValueError
        Naming the array, the shape or dtype expected and the one found.
    """
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
    n_samples = X.shape[0]
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
    return X, Y, validation_mask, target_index


@dataclass
class RidgeSolution:
    """What :func:`solve_ridge` returns.

    Attributes
    ----------
    coef : ndarray, shape (n_voxels, n_targets), float32
    intercept : ndarray, shape (n_targets,), float32
    alpha : ndarray, shape (n_targets,), float64
        Chosen alpha per target (all equal with a shared alpha).
    solver : str
        ``"primal"`` or ``"dual"``: the form of the final fit.
    validation_scores : ndarray, shape (n_alphas, n_targets), float64, or None
        Validation R^2 of each alpha and target (None with a single alpha).
    best_validation_score : ndarray, shape (n_targets,), or None
        Validation R^2 at the chosen alpha.
    validation_accuracy : ndarray, shape (n_alphas,), or None
        Arg-max accuracy of each alpha with ``scoring="argmax_accuracy"``.
    alpha_at_edge_fraction : float or None
        Fraction of targets whose alpha is the smallest or largest of the grid.
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    solver: str
    validation_scores: np.ndarray | None = None
    best_validation_score: np.ndarray | None = None
    validation_accuracy: np.ndarray | None = None
    alpha_at_edge_fraction: float | None = None


def solve_ridge(
    X: Any,
    Y: Any,
    alphas: Sequence[float] | float = DEFAULT_ALPHAS,
    *,
    validation_mask: Any = None,
    target_index: Any = None,
    alpha_per_target: bool = True,
    scoring: str = "mse",
    fit_intercept: bool = True,
    solver: str = "auto",
    refit: bool = True,
    backend: str = "numpy",
    n_targets_batch: int | None = None,
) -> RidgeSolution:
    """Fit multi-output ridge regression, choosing alphas on a fixed validation fold.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_voxels)
        Voxel responses, one row per sample (e.g. per trial).
    Y : array-like, shape (n_samples, n_targets), or (n_rows, n_targets)
        Targets. With ``target_index``, one row per unique target (e.g. per
        stimulus) and sample ``i`` has target ``Y[target_index[i]]``.
    alphas : sequence of float
        Penalties tried (all > 0). With one value no validation is needed.
    validation_mask : array-like of bool, shape (n_rows,)
        The validation fold, over the rows of ``Y``. Required when more than
        one alpha is given.
    target_index : array-like of int, shape (n_samples,), optional
        Row of ``Y`` of each sample. Validation predictions are then made from
        the samples averaged per validation target row.
    alpha_per_target : bool
        One alpha per target, or one shared by all targets.
    scoring : {"mse", "argmax_accuracy"}
        ``"argmax_accuracy"`` needs ``alpha_per_target=False``.
    fit_intercept : bool
        Centre voxels and targets on the fitting samples.
    solver : {"auto", "primal", "dual"}
    refit : bool
        Refit on all samples with the chosen alphas (else keep the model of the
        training fold).
    backend : {"numpy", "torch"}
    n_targets_batch : int, optional
        Score validation predictions this many targets at a time (memory).

    Returns
    -------
    RidgeSolution
        ``predict(X_new) = X_new @ coef + intercept``.
    """
    backend_module = get_himalaya_backend(backend)
    alphas = check_alphas(alphas)
    X, outputs, validation_mask, target_index = check_ridge_inputs(X, Y, validation_mask, target_index)
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; valid: {', '.join(SCORINGS)}")
    if scoring == "argmax_accuracy" and alpha_per_target:
        raise ValueError("scoring='argmax_accuracy' needs alpha_per_target=False and target_pca=None")
    if alphas.size > 1 and validation_mask is None:
        raise ValueError(f"{alphas.size} alphas given but no validation_mask to choose among them")
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    n_rows, n_outputs = outputs.shape

    def spectrum_of(X_fit, Y_fit, index):
        return ridge_spectrum(backend_module, X_fit, Y_fit, index, solver=solver, fit_intercept=fit_intercept)

    validation: dict[str, Any] = {}
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
            spectrum = spectrum_of(X[train_rows], outputs[train_rows], None)
        else:
            # Renumber the training and the validation targets 0..n-1 within their fold.
            fold_row = np.full(n_rows, -1)
            fold_row[train_rows] = np.arange(train_rows.size)
            fold_row[val_rows] = np.arange(val_rows.size)
            spectrum = spectrum_of(X[~sample_is_val], outputs[train_rows], fold_row[target_index[~sample_is_val]])
            # Test-time condition: responses averaged over repetitions.
            X_val = average_by_target(backend_module, X[sample_is_val], fold_row[target_index[sample_is_val]], val_rows.size)
        sse, sst, accuracy = validation_errors(
            backend_module,
            spectrum,
            X_val,
            outputs[val_rows],
            alphas,
            argmax_accuracy=scoring == "argmax_accuracy",
            n_targets_batch=n_targets_batch,
        )
        r2 = r2_from_errors(sse, sst)
        best = select_alphas(sse, sst, alphas, alpha_per_target=alpha_per_target, accuracy=accuracy)
        chosen = alphas[best]
        validation = {
            "validation_scores": r2.astype(np.float64),
            "best_validation_score": r2[best, np.arange(n_outputs)],
            "validation_accuracy": accuracy,
            "alpha_at_edge_fraction": float(np.mean((best == 0) | (best == alphas.size - 1))),
        }
        if not refit:
            spectrum_all = spectrum
    if spectrum_all is None:
        spectrum_all = spectrum_of(X, outputs, target_index)
    coef = spectrum_all.coef(chosen)
    intercept = spectrum_all.y_mean - spectrum_all.x_mean @ coef
    return RidgeSolution(
        coef=np.ascontiguousarray(backend_module.to_numpy(coef), dtype=np.float32),
        intercept=np.asarray(backend_module.to_numpy(intercept), dtype=np.float32),
        alpha=chosen.astype(np.float64),
        solver=spectrum_all.solver,
        **validation,
    )
