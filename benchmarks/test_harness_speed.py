"""Speed of the harness around the methods: evaluator, result store, leaderboard.

Run (not part of the test suite)::

    pytest benchmarks/test_harness_speed.py --benchmark-only

What a rerun of ``reconbench bench`` costs once every cell is done is mostly
the leaderboard (bootstrap intervals and permutation tests) and the
consolidation of cell files; these suites time both at the size of the
``default`` preset (50 + 40 + 10 test images, about 10 method rows, 6 metrics).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconbench.bench.evaluator import Evaluator
from reconbench.leaderboard.tables import summarise
from reconbench.metrics import get_metric
from reconbench.store.results import ResultStore, normalise

METRICS = ("pairwise_identification", "pixcorr", "ssim", "lpips", "alexnet2", "alexnet5")


def synthetic_rows(n_methods: int = 10, n_images: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """Result rows shaped like a ``default`` run (one subject, one seed)."""
    n_images = n_images or {"natural": 50, "shapes": 40, "letters": 10}
    rng = np.random.default_rng(seed)
    out = []
    for m in range(n_methods):
        for test_set, n in n_images.items():
            for metric in METRICS:
                values = rng.random(n)
                out.append(
                    pd.DataFrame(
                        {
                            "dataset": "simulated:default",
                            "subject": "sub-01",
                            "test_set": test_set,
                            "method": f"m{m}",
                            "param_set": "default",
                            "params_hash": f"h{m}",
                            "seed": 0,
                            "metric": metric,
                            "stimulus_id": [f"s{k:03d}" for k in range(n)],
                            "value": values,
                            "higher_is_better": metric != "lpips",
                            "chance": 0.5 if metric in ("pairwise_identification", "alexnet2", "alexnet5") else np.nan,
                            "kind": "method",
                            "status": "ok",
                            "error": "",
                            "cell_key": f"c{m}",
                            "config_hash": "x",
                            "params": "{}",
                            "code_version": "bench",
                            "package_versions": "{}",
                            "fit_seconds": 1.0,
                            "reconstruct_seconds": 1.0,
                            "score_seconds": 1.0,
                            "peak_memory_mb": 1.0,
                        }
                    )
                )
    return normalise(pd.concat(out, ignore_index=True))


def test_leaderboard_summary_default_size(benchmark) -> None:
    rows = synthetic_rows()
    summary = benchmark.pedantic(summarise, args=(rows,), rounds=3, iterations=1)
    assert len(summary) > 0


def test_consolidate_20_cells(benchmark, tmp_path) -> None:
    rows = synthetic_rows(n_methods=20)
    store = ResultStore(tmp_path)
    for key, cell in rows.groupby("cell_key"):
        store.write_cell(key, cell, {"status": "ok"})
    consolidated = benchmark(store.consolidate)
    assert len(consolidated) == len(rows)


def test_evaluator_prepare_50_images_to_256(benchmark) -> None:
    rng = np.random.default_rng(0)
    ids = np.array([f"s{k:03d}" for k in range(50)])
    true = rng.random((50, 3, 500, 500), dtype=np.float32)
    evaluator = Evaluator(ids, true, 256, {"pixcorr": get_metric("pixcorr")})
    pred = rng.random((50, 3, 64, 64), dtype=np.float32)
    order = rng.permutation(50)
    prepared = benchmark(evaluator.prepare, pred[order], ids[order])
    assert prepared.shape == (50, 3, 256, 256)
