"""Bootstrap intervals and paired permutation tests against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reconbench.metrics.stats import StatsInputError, bootstrap_ci, paired_permutation_test


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap() -> None:
    values = np.random.default_rng(0).exponential(size=200)
    mean, low, high = bootstrap_ci(values, level=0.95, n_boot=20000, seed=1)
    reference = stats.bootstrap(
        (values,), np.mean, confidence_level=0.95, n_resamples=20000, method="percentile",
        random_state=np.random.default_rng(2),
    ).confidence_interval  # fmt: skip
    assert mean == pytest.approx(values.mean())
    width = reference.high - reference.low
    # Different random resamples: the ends agree to Monte Carlo error (a few % of the width).
    assert low == pytest.approx(reference.low, abs=0.03 * width)
    assert high == pytest.approx(reference.high, abs=0.03 * width)
    assert low < mean < high


def test_bootstrap_ci_close_to_normal_theory_interval() -> None:
    values = np.random.default_rng(3).normal(0.6, 0.2, size=400)
    _, low, high = bootstrap_ci(values, n_boot=10000, seed=0)
    half_width = stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(values.size)
    assert low == pytest.approx(values.mean() - half_width, abs=0.1 * half_width)
    assert high == pytest.approx(values.mean() + half_width, abs=0.1 * half_width)


def test_bootstrap_ci_coverage_on_a_known_distribution() -> None:
    # 300 samples of size 60 from N(0.5, 0.1^2): about 95% of intervals hold the true mean.
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(300):
        _, low, high = bootstrap_ci(rng.normal(0.5, 0.1, size=60), n_boot=1000, seed=int(rng.integers(1 << 30)))
        hits += low <= 0.5 <= high
    # Binomial(300, ~0.94) (percentile intervals are slightly narrow at n = 60): 3 SD band.
    assert 0.89 <= hits / 300 <= 0.985


def test_bootstrap_ci_is_seeded_and_handles_nan() -> None:
    values = np.random.default_rng(5).random(50)
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)
    with pytest.raises(StatsInputError, match="NaN"):
        bootstrap_ci(np.append(values, np.nan))
    assert bootstrap_ci(np.append(values, np.nan), seed=7, nan_policy="omit") == bootstrap_ci(values, seed=7)
    assert bootstrap_ci([0.3]) == (0.3, 0.3, 0.3)
    with pytest.raises(StatsInputError, match="1-D"):
        bootstrap_ci(np.zeros((2, 2)))


def scipy_paired_test(a, b, n_resamples, seed=0):
    return stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", alternative="two-sided",
        n_resamples=n_resamples, random_state=np.random.default_rng(seed),
    ).pvalue  # fmt: skip


@pytest.mark.parametrize("n, shift", [(8, 0.0), (10, 0.3), (12, 0.1)])
def test_exact_permutation_test_equals_scipy(n: int, shift: float) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(size=n)
    b = a - shift + 0.5 * rng.normal(size=n)
    # 2^n <= n_perm: both enumerate every sign pattern, so the p-values are equal.
    assert paired_permutation_test(a, b, n_perm=10000) == pytest.approx(scipy_paired_test(a, b, 10000), rel=1e-12)


def test_exact_permutation_test_with_ties_equals_scipy() -> None:
    a = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0])  # identification-like 0/1 scores
    b = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    assert paired_permutation_test(a, b) == pytest.approx(scipy_paired_test(a, b, 10000), rel=1e-12)


def test_random_permutation_test_agrees_with_scipy() -> None:
    rng = np.random.default_rng(9)
    a = rng.normal(0.55, 0.1, size=60)
    b = a - 0.02 + 0.08 * rng.normal(size=60)
    ours = paired_permutation_test(a, b, n_perm=20000, seed=1)
    reference = scipy_paired_test(a, b, 20000, seed=2)
    # Monte Carlo p-values: standard error sqrt(p(1-p)/20000) < 0.0036.
    assert ours == pytest.approx(reference, abs=0.015)
    assert 0.0 < ours <= 1.0


def test_permutation_test_detects_a_clear_difference_and_none() -> None:
    rng = np.random.default_rng(10)
    a = rng.random(100)
    assert paired_permutation_test(a + 0.2, a + 0.01 * rng.normal(size=100)) < 0.001
    assert paired_permutation_test(a, a) == 1.0
    with pytest.raises(StatsInputError, match="same length"):
        paired_permutation_test(a, a[:-1])
