"""The metric registry: names, metadata and that every metric scores per image."""

from __future__ import annotations

import numpy as np
import pytest

import reconbench.metrics as metrics
from reconbench.metrics import REGISTRY, MetricSpec, UnknownMetricError, get_metric, list_metrics

RECIPE = ["pairwise_identification", "pixcorr", "ssim", "lpips", "alexnet2", "alexnet5"]


def test_names_and_metadata() -> None:
    assert list_metrics() == RECIPE
    assert list_metrics(include_optional=True) == RECIPE[:4] + ["lpips_vgg"] + RECIPE[4:]
    expected = {
        "pairwise_identification": (True, False, 0.5),
        "pixcorr": (True, False, None),
        "ssim": (True, False, None),
        "lpips": (False, True, None),
        "lpips_vgg": (False, True, None),
        "alexnet2": (True, True, 0.5),
        "alexnet5": (True, True, 0.5),
    }
    for name, (higher, needs_weights, chance) in expected.items():
        spec = REGISTRY[name]
        assert isinstance(spec, MetricSpec) and spec.name == name
        assert (spec.higher_is_better, spec.needs_weights, spec.chance) == (higher, needs_weights, chance)
        assert len(spec.recipe) > 40


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(UnknownMetricError, match="valid metrics: pairwise_identification, pixcorr, ssim"):
        get_metric("psnr")


def test_public_functions_exported() -> None:
    for name in ("pairwise_identification", "pixcorr", "ssim", "lpips", "two_way_identification",
                 "image_features", "bootstrap_ci", "paired_permutation_test"):  # fmt: skip
        assert callable(getattr(metrics, name))


@pytest.mark.weights
def test_every_metric_scores_each_image_and_prefers_the_truth(weights_cache) -> None:
    rng = np.random.default_rng(0)
    true = rng.random((4, 3, 32, 32), dtype=np.float32)  # 32 x 32: the smallest size every metric accepts
    noisy = np.clip(true + 0.4 * rng.standard_normal(true.shape), 0, 1).astype(np.float32)
    for name in list_metrics(include_optional=True):
        spec = get_metric(name)
        perfect = spec(true, true, cache=weights_cache) if spec.needs_weights else spec(true, true)
        degraded = spec(noisy, true, cache=weights_cache) if spec.needs_weights else spec(noisy, true)
        assert perfect.shape == degraded.shape == (4,), name
        better = perfect.mean() >= degraded.mean() if spec.higher_is_better else perfect.mean() <= degraded.mean()
        assert better, name
