"""The evaluator: it alone holds the held-out images and scores reconstructions.

A method returns one reconstruction per row of ``TestInput.stimulus_ids``. The
evaluator

1. checks the predictions (shape ``(M, 3, H, W)``, finite, in [0, 1]) and their
   ids (no duplicates, none missing, none unknown); a method process's
   reconstructions are checked once, by the parent when they arrive
   (:func:`reconbench.bench.sandbox.run_method`), and only aligned here
   (:meth:`Evaluator.align`);
2. reorders them to the ground-truth order **by stimulus id**, never by
   position;
3. resizes predictions and true images to the dataset's evaluation resolution
   (:func:`evaluation_size`) with the one pinned resize,
   :func:`reconbench.core.images.resize`;
4. scores them with every metric of the registry, one value per image.

Metric functions never resize; the evaluation resolution is decided here, in
one function.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from reconbench import metrics as metric_registry
from reconbench.core.device import device_kind
from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize
from reconbench.datasets.catalog import CATALOG, get_dataset


class EvaluationError(ReconbenchError):
    """Reconstructions cannot be scored: wrong shape, range or stimulus ids."""


def evaluation_size(dataset: str, native_size: int) -> int:
    """Return the side length (pixels) at which ``dataset`` is scored.

    The rule is pinned in :mod:`reconbench.datasets.catalog` (256 x 256 for
    ds001506 and the 256-px simulated presets, the native size otherwise).

    Parameters
    ----------
    dataset : str
        Dataset name as given to ``reconbench run --dataset``.
    native_size : int
        Side length of the dataset's stimulus images as loaded.

    Returns
    -------
    int
    """
    try:
        entry = get_dataset(dataset)
    except ReconbenchError:
        raise ReconbenchError(f"no evaluation resolution is pinned for dataset {dataset!r}; known: {', '.join(CATALOG)}") from None
    return entry.evaluation_size_for(native_size)


def _as_id_array(ids: Sequence[Any], what: str) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise EvaluationError(f"{what} must be a 1-D sequence of stimulus ids, got shape {arr.shape}")
    return arr.astype(str)


def check_reconstructions(predictions: Any, n_expected: int, *, method: str = "method") -> np.ndarray:
    """Check a method's output and return it as float32.

    Parameters
    ----------
    predictions : array-like, shape (M, 3, H, W)
        Values in [0, 1], finite, real; square images (H = W: the evaluation resizes to a square).
    n_expected : int
        ``M``, the number of stimulus ids the method was given.
    method : str
        Name used in error messages.

    Returns
    -------
    ndarray, shape (M, 3, H, W), float32
    """
    if hasattr(predictions, "detach"):  # a torch tensor
        predictions = predictions.detach().cpu().numpy()
    if np.iscomplexobj(predictions):  # a float32 cast would drop the imaginary part without a word
        raise EvaluationError(f"{method} returned complex values (dtype {np.asarray(predictions).dtype}), expected real images (M, 3, H, W) in [0, 1]")
    try:
        arr = np.asarray(predictions, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{method} returned {type(predictions).__name__}, expected an array (M, 3, H, W)") from exc
    if arr.ndim != 4 or arr.shape[1] != 3:
        raise EvaluationError(f"{method} returned shape {arr.shape}, expected (M, 3, H, W) with M = {n_expected}")
    if arr.shape[2] != arr.shape[3]:  # the evaluation resizes to a square: a rectangle would be stretched
        raise EvaluationError(f"{method} returned {arr.shape[2]} x {arr.shape[3]} images (height x width), expected square images (M, 3, H, H)")
    if arr.shape[0] != n_expected:
        raise EvaluationError(f"{method} returned {arr.shape[0]} reconstructions for {n_expected} stimulus ids; expected one per TestInput.stimulus_ids row")
    if not np.all(np.isfinite(arr)):
        raise EvaluationError(f"{method} returned {int(np.sum(~np.isfinite(arr)))} non-finite values (NaN or inf)")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        lo, hi = float(arr.min()), float(arr.max())
        raise EvaluationError(f"{method} returned values in [{lo:.4g}, {hi:.4g}], expected [0, 1]")
    return arr


def align_by_id(predictions: np.ndarray, prediction_ids: Sequence[Any], true_ids: Sequence[Any], *, method: str = "method") -> np.ndarray:
    """Reorder predictions so that row ``k`` reconstructs ``true_ids[k]``.

    Parameters
    ----------
    predictions : ndarray, shape (M, ...)
        One row per ``prediction_ids`` entry.
    prediction_ids : sequence of str, length M
        The ids the method was asked for (``TestInput.stimulus_ids``).
    true_ids : sequence of str, length M
        Ground-truth order.

    Returns
    -------
    ndarray, shape (M, ...)
        ``predictions`` reordered by id.

    Raises
    ------
    EvaluationError
        On duplicate ids, ids missing from the predictions, or ids unknown to
        the ground truth.
    """
    pred_ids = _as_id_array(prediction_ids, "prediction ids")
    truth = _as_id_array(true_ids, "true ids")
    if len(pred_ids) != len(predictions):
        raise EvaluationError(f"{method}: {len(predictions)} reconstructions but {len(pred_ids)} stimulus ids")
    for ids, what in ((pred_ids, "prediction"), (truth, "ground-truth")):
        unique, counts = np.unique(ids, return_counts=True)
        if np.any(counts > 1):
            raise EvaluationError(f"{method}: duplicate {what} stimulus ids: {', '.join(unique[counts > 1][:5])}")
    position = {sid: k for k, sid in enumerate(pred_ids)}
    missing = [sid for sid in truth if sid not in position]
    if missing:
        raise EvaluationError(f"{method}: no reconstruction for {len(missing)} stimulus id(s), e.g. {', '.join(missing[:5])}")
    unknown = sorted(set(pred_ids) - set(truth))
    if unknown:
        raise EvaluationError(f"{method}: reconstructions for unknown stimulus id(s): {', '.join(unknown[:5])}")
    order = np.array([position[sid] for sid in truth], dtype=np.int64)
    return predictions[order]


def score(
    predictions: np.ndarray,
    true_images: np.ndarray,
    metrics: Mapping[str, Any],
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Score aligned images with each metric.

    Parameters
    ----------
    predictions, true_images : ndarray, shape (M, 3, S, S), float32 in [0, 1]
        Already aligned and at the evaluation resolution.
    metrics : mapping of str to MetricSpec
        Each spec's ``function(pred, true)`` returns one value per image.
    device : str
        The run's device (:mod:`reconbench.core.device`): the metrics whose spec says
        ``on_device`` (the network metrics) run there; the others, and every metric
        on the CPU, are called exactly as before.

    Returns
    -------
    dict of str to ndarray, shape (M,), float64
    """
    scores = {}
    on_gpu = device_kind(device) != "cpu"
    for name, spec in metrics.items():
        kwargs = {"device": device} if on_gpu and getattr(spec, "on_device", False) else {}
        values = np.asarray(spec.function(predictions, true_images, **kwargs), dtype=np.float64)
        if values.shape != (predictions.shape[0],):
            raise ReconbenchError(f"metric {name} returned shape {values.shape}, expected one value per image ({predictions.shape[0]},)")
        scores[name] = values
    return scores


def default_metrics(names: Sequence[str] | None = None) -> dict[str, Any]:
    """Return metric specs from the registry: all of them, or the ``names`` given.

    The error for an unknown name lists the valid ones.
    """
    if names is None:
        names = list(metric_registry.list_metrics())
    return {name: metric_registry.get_metric(name) for name in names}


class Evaluator:
    """Scores reconstructions of one test set against its held-out images.

    Parameters
    ----------
    true_ids : sequence of str, shape (M,)
    true_images : ndarray, shape (M, 3, H, W), float in [0, 1]
    size : int
        Evaluation resolution (see :func:`evaluation_size`).
    metrics : mapping of str to MetricSpec
    device : str
        Where the network metrics run (see :func:`score`).
    """

    def __init__(self, true_ids: Sequence[Any], true_images: np.ndarray, size: int, metrics: Mapping[str, Any], device: str = "cpu"):
        self.true_ids = _as_id_array(true_ids, "true ids")
        true_images = np.asarray(true_images, dtype=np.float32)
        if true_images.ndim != 4 or true_images.shape[0] != len(self.true_ids):
            raise ReconbenchError(f"true images have shape {true_images.shape}, expected ({len(self.true_ids)}, 3, H, W)")
        self.size = int(size)
        self.true_images = resize(true_images, self.size)
        self.metrics = dict(metrics)
        self.device = str(device)

    def prepare(self, predictions: Any, prediction_ids: Sequence[Any], *, method: str = "method") -> np.ndarray:
        """Check, align by id and resize predictions; returns (M, 3, size, size) float32."""
        arr = check_reconstructions(predictions, len(np.asarray(prediction_ids)), method=method)
        return self.align(arr, prediction_ids, method=method)

    def align(self, images: np.ndarray, prediction_ids: Sequence[Any], *, method: str = "method") -> np.ndarray:
        """Align by id and resize images checked already (:func:`check_reconstructions`, or a method
        process's reconstructions as the parent checked them when they arrived,
        :func:`reconbench.bench.sandbox.run_method`); returns (M, 3, size, size) float32."""
        aligned = align_by_id(images, prediction_ids, self.true_ids, method=method)  # a new array, in the order of true_ids
        # Already at the evaluation size (a method process's reconstructions always are): no second copy.
        return aligned if aligned.shape[2:] == (self.size, self.size) else resize(aligned, self.size)

    def evaluate(self, predictions: Any, prediction_ids: Sequence[Any], *, method: str = "method") -> dict[str, np.ndarray]:
        """Return ``{metric: values}``, values shape (M,) in the order of ``true_ids``."""
        return score(self.prepare(predictions, prediction_ids, method=method), self.true_images, self.metrics, self.device)
