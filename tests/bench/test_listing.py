"""``reconbench list``: every method with its parameter-set hashes, every metric, every dataset."""

from __future__ import annotations

from reconbench.bench.evaluator import default_metrics
from reconbench.bench.listing import print_listing
from reconbench.bench.registry import discover_methods
from reconbench.core.method import params_hash
from reconbench.datasets.catalog import CATALOG


def test_listing_names_every_method_metric_and_dataset(grid_methods_dir, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one table row per line
    print_listing(grid_methods_dir)
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name, cls in discover_methods(grid_methods_dir).items():
        row = next(line for line in lines if line.startswith(f"│ {name} "))
        assert ("oracle" if cls.is_oracle else "method") in row
        for param_set, params in cls.parameter_sets.items():
            assert f"{param_set} {params_hash(name, params)}" in row
    for name, spec in default_metrics(None).items():
        row = next(line for line in lines if line.startswith(f"│ {name} "))
        assert ("higher is better" if spec.higher_is_better else "lower is better") in row
    for name, dataset in CATALOG.items():
        row = next(line for line in lines if line.startswith(f"│ {name} "))
        assert ("native size" if dataset.evaluation_size is None else f"{dataset.evaluation_size} x {dataset.evaluation_size}") in row
