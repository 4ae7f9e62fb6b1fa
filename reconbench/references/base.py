"""The reference-row plugin interface.

A reference row is scored beside the methods but never ranked: what perfect
category knowledge alone scores, how much stimulus identity survives the
noise, ... Each reference is one class in one file of this package with its
own caption, so neither the runner nor the leaderboard names one.

A reference either makes images (:meth:`Reference.reconstruct`), which the
evaluator scores like a method's, or gives per-image scores itself
(:meth:`Reference.direct_scores`). It sees the training data, the test inputs
and the dataset's ground truth (:class:`~reconbench.core.types.GroundTruthView`),
never the held-out test images.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Mapping, Sequence

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import GroundTruthView, RowNote, TestInput, TrainData


def category_mean_images(train: TrainData, categories: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Category -> the mean of its training images ``(3, H, W)``, for every category among ``train``'s stimuli
    (``categories``: stimulus id -> category; stimuli without one are left out)."""
    labels = np.array([categories.get(str(s), "") for s in train.stimulus_ids])
    return {cat: train.images[labels == cat].mean(axis=0).astype(np.float32) for cat in np.unique(labels) if cat}


def rows_for(ids: Sequence[str], responses: np.ndarray, wanted: Sequence[str], what: str = "") -> np.ndarray:
    """Rows of ``responses`` (one per ``ids``) in the order of ``wanted``; an id without a row is an error naming it.

    ``what`` names the responses in the error (``"training"``: "the noise-free training responses lack ...").
    """
    row = {str(s): k for k, s in enumerate(ids)}
    missing = [str(s) for s in wanted if str(s) not in row]
    if missing:
        prefix = f"the noise-free {what} responses" if what else "noise-free responses"
        raise ReconbenchError(f"{prefix} lack stimulus id(s) {', '.join(missing[:5])}")
    return np.asarray(responses)[[row[str(s)] for s in wanted]]


class Reference(abc.ABC):
    """Base class of the reference rows.

    Class attributes
    ----------------
    name : str
        Row name in results and tables.
    caption : str
        Short note after the row label in the leaderboard.
    legend : str
        The sentence that explains the row in the leaderboard legend.
    requires : tuple of str
        Fields of :class:`GroundTruthView` that must be present for the row to exist.
    metrics : tuple of str or None
        The metrics the row reports (the row exists only if one is run);
        None: every metric, scored like a method.
    """

    name: ClassVar[str] = ""
    caption: ClassVar[str] = ""
    legend: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[tuple[str, ...] | None] = None

    @classmethod
    def note(cls) -> RowNote:
        return RowNote(cls.caption, cls.legend)

    @classmethod
    def applies(cls, available: set[str], metric_names: Sequence[str]) -> bool:
        """True if the ground truth has every field the row needs and one of its metrics is run."""
        if not set(cls.requires) <= set(available):
            return False
        return cls.metrics is None or any(m in metric_names for m in cls.metrics)

    @abc.abstractmethod
    def fit(self, train: TrainData, truth: GroundTruthView) -> "Reference":
        """Learn what the row needs from the training data and the ground truth; return ``self``."""

    def reconstruct(self, test: TestInput) -> np.ndarray | None:
        """Images ``(M, 3, H, W)`` in [0, 1], one per ``test.stimulus_ids``, or None for no row on this test set."""
        return None

    def direct_scores(self, test: TestInput, metric_names: Sequence[str]) -> dict[str, np.ndarray] | None:
        """Per-stimulus scores ``{metric: (M,)}`` in ``test.stimulus_ids`` order, or None when the row makes images."""
        return None
