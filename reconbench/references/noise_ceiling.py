"""The noise-ceiling reference (pairwise identification only).

When the ground truth holds the noise-free responses, an ideal observer that
knows the true encoding model identifies each test stimulus from its measured,
repetition-averaged VC response: the fraction of other test stimuli whose
noise-free response correlates less with the measured response than the true
stimulus's own noise-free response does (Pearson r across voxels, each voxel
standardised over the test set, since the measured responses are z-scored
within run). It is the pairwise identification convention applied in voxel
space: how much of the stimulus identity survives the measurement noise. A
reconstruction is made from the same noisy responses, so it is a reference for
the image-space score, not a proven bound on it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import GroundTruthView, TestInput, TrainData
from reconbench.references.base import Reference, rows_for

#: The metric the noise ceiling is reported for.
NOISE_CEILING_METRIC = "pairwise_identification"


def noise_ceiling(test_input: TestInput, noise_free: np.ndarray, noise_free_ids: Sequence[str]) -> np.ndarray:
    """Ideal-observer pairwise identification in voxel space (see the module docstring).

    Parameters
    ----------
    test_input : TestInput
        Its ``fmri["VC"]``, shape (M, V), measured and repetition-averaged.
    noise_free : ndarray, shape (M', V)
        Noise-free responses of the same voxels (file column order), M' >= M.
    noise_free_ids : sequence of str, shape (M',)
        Stimulus of each row of ``noise_free``.

    Returns
    -------
    ndarray, shape (M,)
        Per test stimulus (in ``test_input.stimulus_ids`` order), the fraction
        of the other M - 1 stimuli j with r(x_i, m_j) < r(x_i, m_i).
    """
    measured = np.asarray(test_input.fmri["VC"], dtype=np.float64)
    model = np.asarray(rows_for(noise_free_ids, noise_free, test_input.stimulus_ids), dtype=np.float64)
    if model.shape != measured.shape:
        raise ReconbenchError(f"noise-free responses have shape {model.shape}, measured VC responses {measured.shape}")

    def standardise(x: np.ndarray) -> np.ndarray:
        x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-12)  # per voxel, over stimuli
        x = x - x.mean(axis=1, keepdims=True)  # per pattern, for Pearson r across voxels
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    similarity = standardise(measured) @ standardise(model).T  # (M, M), r(x_i, m_j)
    own = np.diag(similarity)
    return (similarity < own[:, None]).sum(axis=1) / (len(own) - 1)


class NoiseCeiling(Reference):
    """Ideal-observer identification from the measured responses against the noise-free ones."""

    name = "noise-ceiling"
    caption = "ideal observer, voxel-space identification"
    legend = (
        "noise-ceiling is the pairwise identification an ideal observer who knows the encoding model reaches "
        "from the measured responses (voxel space; both from the simulator's ground truth, so simulated data only)"
    )
    requires = ("noise_free",)
    metrics = (NOISE_CEILING_METRIC,)

    def fit(self, train: TrainData, truth: GroundTruthView) -> "NoiseCeiling":
        if truth.noise_free is None:
            raise ReconbenchError("the noise-ceiling reference needs the noise-free responses of the ground truth")
        self.noise_free_ = dict(truth.noise_free)
        return self

    def direct_scores(self, test: TestInput, metric_names: Sequence[str]) -> dict[str, np.ndarray] | None:
        if test.name not in self.noise_free_ or NOISE_CEILING_METRIC not in metric_names:
            return {}
        ids, responses = self.noise_free_[test.name]
        return {NOISE_CEILING_METRIC: noise_ceiling(test, responses, ids)}
