"""Voxel-wise split-half reliability of a test session: how much of a voxel's
response to an image repeats across presentations.

For every voxel the repetitions of each stimulus are split in two halves by
order of presentation (1st, 3rd, 5th ... against 2nd, 4th, 6th ...), each half
is averaged, and the two half-means are correlated across stimuli (Pearson).
With ``k`` repetitions per half, trial noise of variance ``n`` and
stimulus-driven variance ``s``, the expected correlation is ``s / (s + n / k)``;
the Spearman-Brown formula ``2 r / (1 + r)`` extrapolates it to the average of
all repetitions, which is what a decoder sees at test time.

This is how the field states the quality of fMRI data for decoding (the lab's
papers select voxels and report ceilings from such repetition-based
reliabilities), and it is the calibration statement of the simulator's SNR knob
(docs/simulated-data.md). It reads any session file the loader reads, so it
works on real ds001506 data as well (test sessions: 24 repetitions of the
natural images, fewer of the artificial and letter images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import BASE_ROIS
from reconbench.datasets.ds001506.bdata import SessionData, read_session
from reconbench.datasets.ds001506.loader import session_file
from reconbench.datasets.ds001506.stimuli import session_table


@dataclass(frozen=True)
class RoiReliability:
    """Split-half reliability of the voxels of one ROI.

    Attributes
    ----------
    roi : str
    r : ndarray, shape (V,)
        Per-voxel correlation between the two half-means (NaN for a voxel
        that is constant in a half).
    reps_per_half : int
        Repetitions averaged in the smaller half.
    """

    roi: str
    r: np.ndarray
    reps_per_half: int

    @property
    def spearman_brown(self) -> np.ndarray:
        """Reliability of the mean of all repetitions, ``2 r / (1 + r)`` (negative ``r`` kept as is)."""
        r = self.r
        return np.where(r > 0, 2 * r / (1 + r), r)

    def quantiles(self, q=(0.25, 0.5, 0.75)) -> np.ndarray:
        """Quantiles of ``r`` over voxels (NaN voxels left out)."""
        finite = self.r[np.isfinite(self.r)]
        return np.quantile(finite, q) if finite.size else np.full(len(q), np.nan)


def half_means(x: np.ndarray, stimulus_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Average each stimulus's odd and even presentations separately.

    Parameters
    ----------
    x : ndarray, shape (T, V)
        Trials in presentation order.
    stimulus_ids : ndarray, shape (T,)

    Returns
    -------
    odd, even : ndarray, shape (S, V)
        Mean of presentations 1, 3, 5 ... and of 2, 4, 6 ... of each stimulus.
    ids : ndarray, shape (S,)
        The stimuli, sorted.
    reps_per_half : int
        The smallest number of presentations in a half over stimuli.

    Raises
    ------
    ReconbenchError
        A stimulus shown only once, or fewer than 3 stimuli.
    """
    ids, counts = np.unique(stimulus_ids, return_counts=True)
    if ids.size < 3:
        raise ReconbenchError(f"split-half reliability needs at least 3 stimuli, got {ids.size}")
    if counts.min() < 2:
        once = ids[counts < 2][:3]
        raise ReconbenchError(f"split-half reliability needs every stimulus shown at least twice; shown once: {', '.join(map(str, once))}")
    odd = np.empty((ids.size, x.shape[1]), dtype=np.float64)
    even = np.empty_like(odd)
    for i, stimulus in enumerate(ids):
        trials = x[np.flatnonzero(stimulus_ids == stimulus)]
        odd[i] = trials[0::2].mean(axis=0)
        even[i] = trials[1::2].mean(axis=0)
    return odd, even, ids, int(counts.min() // 2)


def columnwise_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``a`` with the same column of ``b`` (NaN where either is constant)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=0) / denominator, np.nan)


def session_reliability(session: SessionData, rois: tuple[str, ...] = BASE_ROIS) -> dict[str, RoiReliability]:
    """Split-half reliability of every voxel of each ROI in ``rois`` (trials as the loader reads them: z-scored within run)."""
    out: dict[str, RoiReliability] = {}
    for roi in rois:
        if roi not in session.fmri:
            raise ReconbenchError(f"{session.path}: no ROI {roi!r}; it has {', '.join(session.fmri)}")
        odd, even, _, reps = half_means(np.asarray(session.fmri[roi], dtype=np.float64), session.stimulus_ids)
        out[roi] = RoiReliability(roi, columnwise_correlation(odd, even), reps)
    return out


def folder_reliability(root: str | Path, subject: str, session: str = "NaturalImageTest", rois: tuple[str, ...] = BASE_ROIS) -> Mapping[str, RoiReliability]:
    """:func:`session_reliability` of one subject's session file in a data folder (ds001506 layout)."""
    path = session_file(root, subject, session)
    return session_reliability(read_session(path, session, table=session_table(root, session)), rois)
