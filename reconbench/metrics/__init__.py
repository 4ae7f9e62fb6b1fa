"""reconbench.metrics: the metrics of the pinned evaluation recipe, their registry and weights.

Every metric is a pure function ``f(pred, true) -> ndarray (N,)`` for ``pred``,
``true`` of shape (N, 3, H, W), float in [0, 1] (numpy or torch). Metrics never
resize; the evaluator resizes with :func:`reconbench.core.images.resize`.
"""

from reconbench.metrics.features import feature_layers, image_features
from reconbench.metrics.identification import pairwise_identification, two_way_identification
from reconbench.metrics.inputs import MetricInputError
from reconbench.metrics.lpips import lpips
from reconbench.metrics.pixel import pixcorr, ssim
from reconbench.metrics.registry import DEFAULT_METRICS, REGISTRY, MetricSpec, UnknownMetricError, get_metric, list_metrics
from reconbench.metrics.stats import bootstrap_ci, paired_permutation_test

__all__ = [
    "DEFAULT_METRICS",
    "REGISTRY",
    "MetricInputError",
    "MetricSpec",
    "UnknownMetricError",
    "bootstrap_ci",
    "feature_layers",
    "get_metric",
    "image_features",
    "list_metrics",
    "lpips",
    "pairwise_identification",
    "paired_permutation_test",
    "pixcorr",
    "ssim",
    "two_way_identification",
]
