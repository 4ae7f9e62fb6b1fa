"""The data contracts between the harness and a method.

A method receives a :class:`TrainData` to fit on and a :class:`TestInput` to
reconstruct from. ``TestInput`` carries fMRI and stimulus ids only: the held-out
images stay with the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

import numpy as np

#: ROIs of ds001506 and their unions.
BASE_ROIS = ("V1", "V2", "V3", "V4", "LOC", "FFA", "PPA")
ROI_UNIONS = {
    "LVC": ("V1", "V2", "V3"),
    "HVC": ("LOC", "FFA", "PPA"),
    "VC": BASE_ROIS,
}
ALL_ROIS = BASE_ROIS + tuple(ROI_UNIONS)

#: Test sets, in the order tables show them.
TEST_SETS = ("natural", "shapes", "letters")


def average_trials(x: np.ndarray, trial_index: np.ndarray, n_stimuli: int) -> np.ndarray:
    """Average trials per stimulus: the one repetition-averaging function.

    Parameters
    ----------
    x : ndarray, shape (T, V)
        One row per trial.
    trial_index : ndarray of int, shape (T,)
        The stimulus (0 .. n_stimuli - 1) of each trial.
    n_stimuli : int

    Returns
    -------
    ndarray, shape (n_stimuli, V), float32
        Mean over each stimulus's trials, summed in float64 in trial order.

    Raises
    ------
    ValueError
        A stimulus has no trial.
    """
    sums = np.zeros((n_stimuli, x.shape[1]), dtype=np.float64)
    np.add.at(sums, trial_index, x)
    counts = np.bincount(trial_index, minlength=n_stimuli)
    if np.any(counts == 0):
        raise ValueError("some stimuli have no trial")
    return (sums / counts[:, None]).astype(np.float32)


@dataclass(frozen=True)
class TrainData:
    """Training data handed to ``Method.fit``.

    Attributes
    ----------
    images : ndarray, shape (S, 3, H, W), float32 in [0, 1]
        One image per unique training stimulus.
    stimulus_ids : ndarray, shape (S,), str
        Stimulus id of each row of ``images``.
    fmri : mapping of str to ndarray, shape (T, V_roi), float32
        Voxel responses per ROI (base ROIs and unions), one row per trial
        (all repetitions), z-scored within run.
    trial_image_index : ndarray, shape (T,), int
        Row of ``images`` shown on each trial.
    runs : ndarray, shape (T,), int
        Run number of each trial.
    validation_mask : ndarray, shape (S,), bool
        The fixed validation fold (per stimulus, so all repetitions of a
        stimulus are on the same side). Use it to choose hyperparameters.
    extra_images : ndarray, shape (E, 3, H, W), float32 in [0, 1], or None
        Unlabelled images without fMRI, from the dataset's ``extra_images/``
        folder (the simulator draws them from the same image generator as the
        stimuli; for ds001506 the user may supply a folder). Recorded in the
        split manifest and checked to contain no test image. ``None`` when the
        dataset has none or the split was loaded without them.
    """

    images: np.ndarray
    stimulus_ids: np.ndarray
    fmri: Mapping[str, np.ndarray]
    trial_image_index: np.ndarray
    runs: np.ndarray
    validation_mask: np.ndarray
    extra_images: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_trials(self) -> int:
        return int(self.trial_image_index.shape[0])

    def averaged_fmri(self, roi: str) -> np.ndarray:
        """Return the responses of ``roi`` averaged over repetitions, shape (S, V_roi)."""
        return average_trials(self.fmri[roi], self.trial_image_index, self.images.shape[0])


@dataclass(frozen=True)
class TestInput:
    """What a method sees of a test set: fMRI averaged over repetitions, and ids.

    Attributes
    ----------
    name : str
        Test set name (``natural``, ``shapes`` or ``letters``).
    fmri : mapping of str to ndarray, shape (M, V_roi), float32
        Responses per ROI, averaged over the repetitions of each stimulus.
    stimulus_ids : ndarray, shape (M,), str
        The stimulus id of each row. Reconstructions are aligned by these ids.
    oracle_images : ndarray, shape (M, 3, H, W), or None
        The true test images. ``None`` for every method except those that
        declare ``is_oracle = True`` (ceilings such as "true inputs to the
        generator"); the leaderboard marks oracle rows as not comparable.
    """

    name: str
    fmri: Mapping[str, np.ndarray]
    stimulus_ids: np.ndarray
    oracle_images: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Split:
    """A fixed split of one subject's data.

    ``train`` and ``test_inputs`` go to methods; ``test_images`` (keyed by test
    set name, each ``(ids, images)``) is for the evaluator only.
    """

    subject: str
    train: TrainData
    test_inputs: Mapping[str, TestInput]
    test_images: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    manifest: Mapping[str, object] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class GroundTruthView:
    """What a simulated dataset knows and a real one does not, as the harness
    hands it to a reference row (never to a method).

    Attributes
    ----------
    categories : mapping of str to str, or None
        Stimulus id -> category, for stimuli that have one.
    noise_free : mapping of str to (ndarray, ndarray), or None
        Test-set name -> ``(stimulus_ids (M',), responses (M', V))``: the
        noise-free VC responses of one subject, voxels in file column order.
    noise_free_training : (ndarray, ndarray) or None
        The same for the training images: ``(stimulus_ids (S',), responses (S', V))``.
    category_vectors : mapping of str to ndarray, or None
        Category (as in ``categories``) -> its vector in the simulator's
        semantic embedding, shape (D,).
    """

    categories: Mapping[str, str] | None = None
    noise_free: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)
    noise_free_training: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    category_vectors: Mapping[str, np.ndarray] | None = field(default=None, repr=False)


class RowNote(NamedTuple):
    """How the leaderboard describes a row that is not ranked: a short
    ``caption`` after its label and a ``legend`` sentence under the title."""

    caption: str
    legend: str
