"""Synthetic result rows for the leaderboard tests (no method has to run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reconbench.store.results import normalise
from tests.leaderboard.rows import result_row


def make_rows(
    values: dict[tuple[str, str, str], np.ndarray], *, metrics=None, test_set="natural", dataset="simulated:tiny", seeds=(0,), subject="sub-01"
) -> pd.DataFrame:
    """Rows from ``{(method, kind, metric): values per image (N,) or (n_seeds, N)}``."""
    metrics = metrics or {"pairwise_identification": (True, 0.5), "lpips": (False, None)}
    out = []
    for (method, kind, metric), vals in values.items():
        vals = np.atleast_2d(vals)
        higher, chance = metrics[metric]
        for s_index, seed in enumerate(seeds[: len(vals)]):
            for k, v in enumerate(vals[s_index]):
                out.append(
                    result_row(
                        dataset=dataset,
                        subject=subject,
                        test_set=test_set,
                        method=method,
                        param_set="default",
                        seed=seed,
                        metric=metric,
                        stimulus_id=f"img{k:03d}",
                        value=float(v),
                        higher_is_better=higher,
                        chance=np.nan if chance is None else chance,
                        kind=kind,
                        cell_key=f"{method}-{seed}",
                    )
                )
    return normalise(pd.DataFrame(out))


@pytest.fixture
def three_methods() -> pd.DataFrame:
    """Three ranked methods, an oracle and a reference on 10 images.

    ``good`` and ``near_good`` differ by noise; ``poor`` is clearly worse.
    On lpips (lower is better) the order is the same.
    """
    rng = np.random.default_rng(0)
    good = 0.8 + 0.05 * rng.standard_normal(10)
    near = good + 0.02 * rng.standard_normal(10)
    poor = good - 0.3 + 0.02 * rng.standard_normal(10)
    return make_rows(
        {
            ("good", "method", "pairwise_identification"): good,
            ("near_good", "method", "pairwise_identification"): near,
            ("poor", "method", "pairwise_identification"): poor,
            ("good", "method", "lpips"): 1 - good,
            ("near_good", "method", "lpips"): 1 - near,
            ("poor", "method", "lpips"): 1 - poor,
            ("copy_truth", "oracle", "pairwise_identification"): np.ones(10),
            ("copy_truth", "oracle", "lpips"): np.zeros(10),
            ("category-only", "reference", "pairwise_identification"): np.full(10, 0.9),
            ("category-only", "reference", "lpips"): np.full(10, 0.3),
        }
    )
