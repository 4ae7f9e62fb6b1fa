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


#: Largest |CPU - GPU| of a metric's per-image value on the same images: float32 convolutions
#: differ in rounding between the two (cuDNN vs oneDNN kernels); LPIPS distances are about 0.1-0.8.
#: The identification metrics compare correlations, so a rounding difference can flip a near tie:
#: at most one comparison of the N - 1 per image (1 / (N - 1)).
GPU_TOLERANCE = {"lpips": 1e-4, "lpips_vgg": 1e-4}


@pytest.mark.weights
@pytest.mark.cuda
def test_every_metric_agrees_between_the_cpu_and_a_gpu(alexnet_weights_cache) -> None:
    import torch

    from reconbench.bench.evaluator import score
    from reconbench.metrics.weights import weights_status

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    rng = np.random.default_rng(0)
    n = 24
    true = rng.random((n, 3, 64, 64), dtype=np.float32)
    pred = np.clip(true + 0.3 * rng.standard_normal(true.shape).astype(np.float32), 0, 1)
    names = list_metrics()  # the recipe's metrics; lpips_vgg too where its weights are here
    if weights_status()["vgg16"]["verified"] and weights_status()["lpips_vgg16"]["verified"]:
        names.append("lpips_vgg")
    specs = {name: get_metric(name) for name in names}
    on_cpu = score(pred, true, specs)
    on_gpu = score(pred, true, specs, "cuda")
    for name in specs:
        tolerance = GPU_TOLERANCE.get(name, 1.0 / (n - 1) if specs[name].pairwise else 0.0)
        np.testing.assert_allclose(on_gpu[name], on_cpu[name], rtol=0, atol=tolerance, err_msg=name)
        if specs[name].pairwise:  # a flipped comparison is rare: the means agree closely
            assert abs(on_gpu[name].mean() - on_cpu[name].mean()) <= 2.0 / (n * (n - 1)), name
