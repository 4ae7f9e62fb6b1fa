"""Linear decoders as plain arrays, fitted per ROI, and their non-negative combination.

:class:`LinearMap` is a fitted affine map ``Y = X @ weights + intercept`` kept as
arrays (what a stage cache stores); :func:`fit_roi_decoder` fits one from an ROI
with :func:`reconbench.decoders.ridge.fit_ridge_decoder` and can also return
held-out predictions for the validation images; :func:`fit_combination_weights`
fits non-negative weights that combine several decoders' predictions;
:func:`subset_train` restricts training data to some images (cross-fitting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy import optimize

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import TrainData
from reconbench.decoders.ridge import DEFAULT_ALPHAS, fit_ridge_decoder


@dataclass
class LinearMap:
    """An affine map ``Y = X @ weights + intercept`` (a fitted linear decoder).

    Attributes
    ----------
    weights : ndarray, shape (V, D), float32
    intercept : ndarray, shape (D,), float32
    alphas : ndarray, shape (D,), float
        Regularisation chosen for each target (informational).
    """

    weights: np.ndarray
    intercept: np.ndarray
    alphas: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return predictions of shape (N, D) for responses ``x`` of shape (N, V)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise ReconbenchError(f"decoder expects responses of shape (N, {self.weights.shape[0]}), got {x.shape}")
        return x @ self.weights + self.intercept

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}weights": self.weights, f"{prefix}intercept": self.intercept, f"{prefix}alphas": self.alphas}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> "LinearMap":
        return cls(arrays[f"{prefix}weights"], arrays[f"{prefix}intercept"], arrays[f"{prefix}alphas"])

    @classmethod
    def from_ridge(cls, decoder) -> "LinearMap":
        """Fold a fitted :class:`reconbench.decoders.ridge.RidgeDecoder` (with or without target PCA)."""
        weights, intercept = decoder.coef_, decoder.intercept_
        if getattr(decoder, "pca_components_", None) is not None:
            weights = weights @ decoder.pca_components_
            intercept = intercept @ decoder.pca_components_ + decoder.pca_mean_
        return cls(np.asarray(weights, np.float32), np.asarray(intercept, np.float32), np.asarray(decoder.alpha_, np.float64))


def fit_roi_decoder(
    train: TrainData,
    roi: str,
    targets: np.ndarray,
    samples: str = "trials",
    alphas: Sequence[float] | None = None,
    validation_predictions: bool = False,
    device: str = "cpu",
) -> tuple[LinearMap, np.ndarray | None]:
    """Fit a ridge decoder from one ROI to per-image targets (alpha per target on the validation fold).

    Built on :func:`reconbench.decoders.ridge.fit_ridge_decoder`.

    Parameters
    ----------
    train : TrainData
    roi : str
    targets : ndarray, shape (S, D)
        One row per training image.
    samples : {"trials", "averaged"}
    alphas : sequence of float, optional
        Penalty grid (default: the decoder's grid).
    validation_predictions : bool
        Also return predictions for the validation images (responses averaged
        over repetitions) by a decoder fitted without them, at the chosen alphas.
    device : str
        Where the ridge solves run (see :func:`reconbench.decoders.ridge.fit_ridge_decoder`).

    Returns
    -------
    decoder : LinearMap
        Refitted on every training image.
    validation_predictions : ndarray, shape (S_val, D), or None
    """

    grid = DEFAULT_ALPHAS if alphas is None else tuple(alphas)
    if roi not in train.fmri:
        raise ReconbenchError(f"ROI {roi!r} is not in the training data; available: {', '.join(sorted(train.fmri))}")
    final = fit_ridge_decoder(train, roi, targets, samples=samples, alphas=grid, device=device)
    held_out = None
    if validation_predictions:
        mask = np.asarray(train.validation_mask, dtype=bool)
        without_validation = fit_ridge_decoder(train, roi, targets, samples=samples, alphas=grid, refit=False, device=device)
        held_out = without_validation.predict(train.averaged_fmri(roi)[mask])
    return LinearMap.from_ridge(final), held_out


def subset_train(train: TrainData, keep: np.ndarray) -> TrainData:
    """Restrict training data to some images (and their trials).

    Parameters
    ----------
    train : TrainData
    keep : ndarray, shape (S,), bool
        Images to keep.

    Returns
    -------
    TrainData
        Images, ids and validation mask of the kept images; trials of kept images
        only, with ``trial_image_index`` renumbered.
    """
    keep = np.asarray(keep, dtype=bool)
    new_index = np.full(keep.size, -1, dtype=np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    trial_keep = keep[train.trial_image_index]
    return TrainData(
        images=train.images[keep],
        stimulus_ids=train.stimulus_ids[keep],
        fmri={roi: x[trial_keep] for roi, x in train.fmri.items()},
        trial_image_index=new_index[train.trial_image_index[trial_keep]],
        runs=train.runs[trial_keep],
        validation_mask=train.validation_mask[keep],
    )


def fit_combination_weights(predictions: Sequence[np.ndarray], target: np.ndarray) -> np.ndarray:
    """Non-negative weights ``w`` minimising ``||sum_r w_r P_r - target||^2``.

    Parameters
    ----------
    predictions : sequence of R ndarrays, each shape (N, D)
        Validation predictions of each ROI decoder.
    target : ndarray, shape (N, D)

    Returns
    -------
    ndarray, shape (R,), float64, all >= 0
    """
    design = np.stack([np.asarray(p, dtype=np.float64).ravel() for p in predictions], axis=1)
    weights, _ = optimize.nnls(design, np.asarray(target, dtype=np.float64).ravel())
    if not np.any(weights > 0):
        # Every decoder is anti-correlated or zero on validation: fall back to the plain mean.
        weights = np.full(len(predictions), 1.0 / len(predictions))
    return weights
