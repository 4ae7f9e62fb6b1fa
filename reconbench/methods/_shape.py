"""Shape stage of divide-and-conquer: shape-map targets and per-ROI shape decoders.

The shape map of an image is its grayscale layout at a low resolution: the
image is resized with the pinned resize, converted to Rec. 709 luma, blurred
with a Gaussian and its mean removed (``kind="blur"``, the default), or the
gradient magnitude of that blurred map (``kind="edge"``).

The shape decoder fits one ridge decoder per ROI (e.g. V1, V2, V3) and combines
their predictions with non-negative weights fitted on the validation fold of
the training data (``combine="nnls"``, the "divide and conquer" of Fang et al.
2020); with a single ROI (``("V1",)`` or ``("LVC",)``) there is nothing to
combine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage, optimize

from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize
from reconbench.core.types import TrainData
from reconbench.decoders.ridge import DEFAULT_ALPHAS, fit_ridge_decoder

#: Rec. 709 luma weights, the ones scikit-image's ``rgb2gray`` uses.
LUMA_709 = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)

SHAPE_KINDS = ("blur", "edge")


def shape_maps(images: np.ndarray, size: int = 64, blur_sigma: float = 1.5, kind: str = "blur") -> np.ndarray:
    """Compute the shape map of each image.

    Parameters
    ----------
    images : ndarray, shape (N, 3, H, W), float in [0, 1]
    size : int
        Side of the square shape map (the images are resized with the pinned resize).
    blur_sigma : float
        Standard deviation of the Gaussian blur, in pixels of the ``size`` grid.
    kind : {"blur", "edge"}
        ``blur``: blurred grayscale with the per-image mean removed;
        ``edge``: gradient magnitude (Sobel) of the blurred grayscale, mean removed.

    Returns
    -------
    ndarray, shape (N, size, size), float32
        Each map has zero mean.
    """
    if kind not in SHAPE_KINDS:
        raise ReconbenchError(f"shape map kind {kind!r} is not one of {', '.join(SHAPE_KINDS)}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ReconbenchError(f"expected images of shape (N, 3, H, W), got shape {images.shape}")
    small = resize(images, size)
    gray = np.tensordot(LUMA_709, small, axes=([0], [1])).astype(np.float64)  # (N, size, size)
    if blur_sigma > 0:
        gray = ndimage.gaussian_filter(gray, sigma=(0, blur_sigma, blur_sigma), mode="reflect")
    if kind == "edge":
        # Sobel per image: ndimage.sobel on the (N, s, s) stack would also smooth across images.
        derivative, smoothing = [-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]
        gy = ndimage.correlate1d(ndimage.correlate1d(gray, derivative, axis=1, mode="reflect"), smoothing, axis=2, mode="reflect")
        gx = ndimage.correlate1d(ndimage.correlate1d(gray, derivative, axis=2, mode="reflect"), smoothing, axis=1, mode="reflect")
        gray = np.hypot(gx, gy)
    gray -= gray.mean(axis=(1, 2), keepdims=True)
    return gray.astype(np.float32)


# --------------------------------------------------------------------------- ridge


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


# --------------------------------------------------------------------------- shape decoder


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


@dataclass
class ShapeDecoder:
    """Per-ROI ridge decoders of a flattened shape map, combined by NNLS weights.

    Attributes
    ----------
    rois : tuple of str
    decoders : dict of str to LinearMap
    combination_weights : ndarray, shape (R,)
    """

    rois: tuple[str, ...]
    decoders: dict[str, LinearMap]
    combination_weights: np.ndarray

    @classmethod
    def fit(
        cls,
        train: TrainData,
        targets: np.ndarray,
        rois: Sequence[str],
        samples: str = "trials",
        alphas: Sequence[float] | None = None,
        device: str = "cpu",
    ) -> "ShapeDecoder":
        """Fit one decoder per ROI and the combination weights.

        Parameters
        ----------
        train : TrainData
        targets : ndarray, shape (S, D)
            Flattened shape maps of the training images.
        rois : sequence of str
            One ROI: a single decoder (weight 1). Several: NNLS weights fitted on
            the validation fold from held-out predictions.
        samples : {"trials", "averaged"}
        alphas : sequence of float, optional
        device : str
            Where the ridge solves run (:func:`fit_roi_decoder`).
        """
        rois = tuple(rois)
        combine = len(rois) > 1
        decoders, validation_predictions = {}, []
        for roi in rois:
            decoder, val_pred = fit_roi_decoder(train, roi, targets, samples=samples, alphas=alphas, validation_predictions=combine, device=device)
            decoders[roi] = decoder
            validation_predictions.append(val_pred)
        if combine:
            weights = fit_combination_weights(validation_predictions, targets[np.asarray(train.validation_mask, bool)])
        else:
            weights = np.ones(1)
        return cls(rois, decoders, weights)

    def predict(self, fmri: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return combined predictions, shape (N, D), float32."""
        total = None
        for weight, roi in zip(self.combination_weights, self.rois):
            if roi not in fmri:
                raise ReconbenchError(f"shape decoder needs ROI {roi!r}; the input has {', '.join(sorted(fmri))}")
            part = float(weight) * self.decoders[roi].predict(fmri[roi])
            total = part if total is None else total + part
        return total.astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"combination_weights": np.asarray(self.combination_weights, dtype=np.float64)}
        for roi in self.rois:
            arrays.update(self.decoders[roi].to_arrays(f"{roi}/"))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], rois: Sequence[str]) -> "ShapeDecoder":
        return cls(
            tuple(rois),
            {roi: LinearMap.from_arrays(arrays, f"{roi}/") for roi in rois},
            np.asarray(arrays["combination_weights"]),
        )
