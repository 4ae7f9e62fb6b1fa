"""Shape stage of divide-and-conquer: per-ROI shape decoders combined by NNLS weights.

The shape map of an image (the target) is
:func:`reconbench.decoders.targets.shape_maps`: its grayscale layout at a low
resolution, blurred and mean-removed (``kind="blur"``) or the gradient magnitude
of that (``kind="edge"``).

The shape decoder fits one ridge decoder per ROI (e.g. V1, V2, V3) and combines
their predictions with non-negative weights fitted on the validation fold of
the training data (``combine="nnls"``, the "divide and conquer" of Fang et al.
2020); with a single ROI (``("V1",)`` or ``("LVC",)``) there is nothing to
combine. The decoders and the combination are the shared ones of
:mod:`reconbench.decoders.linear`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import TrainData
from reconbench.decoders.linear import LinearMap, fit_combination_weights, fit_roi_decoder


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
            Where the ridge solves run (:func:`reconbench.decoders.linear.fit_roi_decoder`).
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
