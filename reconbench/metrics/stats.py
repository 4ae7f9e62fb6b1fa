"""Statistics over per-image scores: bootstrap intervals and paired permutation tests."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from reconbench.core.errors import ReconbenchError

# Resamples processed at once, to bound memory to about 8 MB x chunk / 1000 per 1000 values.
_CHUNK = 1000


class StatsInputError(ReconbenchError, ValueError):
    """Scores given to a statistic are empty, not 1-D, or contain NaN where not allowed."""


def _scores(values: Any, name: str, nan_policy: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise StatsInputError(f"{name}: expected a 1-D array of per-image scores, got shape {values.shape}")
    if nan_policy not in ("raise", "omit"):
        raise StatsInputError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    nan = np.isnan(values)
    if nan.any():
        if nan_policy == "raise":
            raise StatsInputError(f"{name}: {int(nan.sum())} NaN score(s); pass nan_policy='omit' to leave them out")
        values = values[~nan]
    if values.size == 0:
        raise StatsInputError(f"{name}: no scores")
    return values


def bootstrap_ci(
    values: Any,
    level: float = 0.95,
    n_boot: int = 10000,
    seed: int = 0,
    nan_policy: str = "raise",
) -> tuple[float, float, float]:
    """Mean of per-image scores with a percentile bootstrap interval.

    Parameters
    ----------
    values : array-like, shape (N,)
        One score per image.
    level : float
        Confidence level, e.g. 0.95.
    n_boot : int
        Bootstrap resamples (images drawn with replacement, N per resample).
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same interval.
    nan_policy : {"raise", "omit"}

    Returns
    -------
    (mean, low, high) : tuple of float
        The sample mean and the ``(1 - level) / 2`` and ``(1 + level) / 2``
        percentiles (linear interpolation) of the resampled means. With a single
        score, ``low == high == mean``.
    """
    values = _scores(values, "values", nan_policy)
    if not 0.0 < level < 1.0:
        raise StatsInputError(f"level must be in (0, 1), got {level!r}")
    if int(n_boot) < 1:
        raise StatsInputError(f"n_boot must be a positive integer, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    n = values.size
    means = np.empty(int(n_boot), dtype=np.float64)
    for start in range(0, int(n_boot), _CHUNK):
        size = min(_CHUNK, int(n_boot) - start)
        means[start : start + size] = values[rng.integers(0, n, size=(size, n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(values.mean()), float(low), float(high)


def paired_permutation_test(a: Any, b: Any, n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided paired permutation (sign-flip) test of equal mean scores.

    Under the null hypothesis the two methods' scores are exchangeable within
    each image, so each difference ``d_i = a_i - b_i`` is equally likely to have
    either sign. The statistic is ``mean(d)``; its null distribution is
    ``mean(s * d)`` over sign vectors ``s``: all ``2^N`` of them when
    ``2^N <= n_perm`` (exact test), otherwise ``n_perm`` random ones.

    The p-value follows ``scipy.stats.permutation_test(...,
    permutation_type="samples", alternative="two-sided")``: twice the smaller
    one-sided p-value, capped at 1; random resampling adds one to numerator and
    denominator (the observed statistic counts as a resample); statistics within
    a relative 1e-14 of the observed one count as equal to it.

    Parameters
    ----------
    a, b : array-like, shape (N,)
        Per-image scores of two methods on the same images, in the same order.
    n_perm : int
    seed : int
        Seed of ``np.random.default_rng``.

    Returns
    -------
    float
        p-value in (0, 1].
    """
    a = _scores(a, "a", "raise")
    b = _scores(b, "b", "raise")
    if a.shape != b.shape:
        raise StatsInputError(f"a and b must have the same length (paired scores), got {a.size} and {b.size}")
    if int(n_perm) < 1:
        raise StatsInputError(f"n_perm must be a positive integer, got {n_perm!r}")
    differences = a - b
    n = differences.size
    observed = differences.mean()
    exact = n < 63 and 2**n <= int(n_perm)
    if exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        null = signs @ differences / n
        n_null = null.size
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        null = np.empty(int(n_perm), dtype=np.float64)
        for start in range(0, int(n_perm), _CHUNK):
            size = min(_CHUNK, int(n_perm) - start)
            signs = rng.choice(np.array([-1.0, 1.0]), size=(size, n))
            null[start : start + size] = signs @ differences / n
        n_null = null.size
        extra = 1
    # Mathematically equal statistics can differ in the last bits; the same
    # relative tolerance as scipy's permutation_test counts them as ties.
    tolerance = abs(observed) * 1e-14
    p_greater = (np.sum(null >= observed - tolerance) + extra) / (n_null + extra)
    p_less = (np.sum(null <= observed + tolerance) + extra) / (n_null + extra)
    return float(min(1.0, 2.0 * min(p_greater, p_less)))
