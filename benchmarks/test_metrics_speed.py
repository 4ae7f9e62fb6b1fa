"""Speed of every metric at the evaluation resolution (256 x 256), pytest-benchmark.

Run (not part of the test suite)::

    RECONBENCH_CACHE=.cache/reconbench pytest benchmarks/test_metrics_speed.py --benchmark-only

Sizes: 50 image pairs (one natural-image test set of ds001506) and 1200 pairs
(the size of the training set, the largest set a user would score). The
network metrics at 1200 pairs take minutes on a CPU; they run a single round.
``-k "not 1200"`` keeps only the quick sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from reconbench.metrics import get_metric, list_metrics
from reconbench.metrics.identification import pairwise_identification

SIDE = 256
CHEAP = ("pairwise_identification", "pixcorr", "ssim")


@pytest.fixture(scope="module")
def weights_cache():
    from reconbench.core.paths import cache_dir
    from reconbench.metrics.weights_fetch import fetch_weights

    return fetch_weights(cache=cache_dir()).parent


def image_pairs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random images (8 x 8 noise upsampled) and noisy versions of them, float32 in [0, 1]."""
    from reconbench.core.images import resize

    rng = np.random.default_rng(seed)
    true = resize(rng.random((n, 3, 8, 8), dtype=np.float32), SIDE)
    pred = np.clip(true + 0.2 * rng.standard_normal(true.shape, dtype=np.float32), 0.0, 1.0)
    return pred, true


_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def cached_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _PAIRS:
        _PAIRS.clear()  # keep at most one large set in memory (1200 pairs: 1.9 GB)
        _PAIRS[n] = image_pairs(n)
    return _PAIRS[n]


@pytest.mark.parametrize("n", [50, 1200])
@pytest.mark.parametrize("name", list_metrics(include_optional=True))
def test_metric_speed(benchmark, weights_cache, name: str, n: int) -> None:
    if name == "lpips_vgg" and n > 50:
        pytest.skip("LPIPS-VGG on 1200 pairs at 256 x 256 takes tens of minutes on 2 CPU cores")
    spec = get_metric(name)
    pred, true = cached_pairs(n)
    kwargs = {"cache": weights_cache} if spec.needs_weights else {}
    if spec.needs_weights:
        spec(pred[:2], true[:2], **kwargs)  # load weights outside the timing
    rounds = 3 if (name in CHEAP and n <= 50) else 1
    values = benchmark.pedantic(spec, args=(pred, true), kwargs=kwargs, rounds=rounds, iterations=1)
    assert values.shape == (n,)
    benchmark.extra_info["images_per_second"] = n / benchmark.stats.stats.mean
    benchmark.extra_info["n_pairs"] = n


@pytest.mark.parametrize("n", [50, 200, 600, 1200])
def test_pairwise_identification_scaling(benchmark, n: int) -> None:
    """Cost grows as N^2 x pixels (the N x N correlation matrix) plus N x pixels (standardising)."""
    pred, true = cached_pairs(1200)
    values = benchmark.pedantic(pairwise_identification, args=(pred[:n], true[:n]), rounds=1 if n > 200 else 3, iterations=1)
    assert values.shape == (n,)
    benchmark.extra_info["images_per_second"] = n / benchmark.stats.stats.mean
