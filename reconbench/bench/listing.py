"""``reconbench list``: methods, metrics and datasets on the console."""

from __future__ import annotations

import json
from pathlib import Path

from reconbench.bench.evaluator import default_metrics
from reconbench.bench.registry import discover_methods
from reconbench.core.method import params_hash
from reconbench.datasets.catalog import CATALOG


def print_listing(methods_dir: str | Path | None = None) -> None:
    """Print methods (parameter sets, kind, citation, requirements), metrics and datasets."""
    from rich.console import Console  # lazy: rich only for console output
    from rich.table import Table

    console = Console()
    methods = Table(title="Methods", title_justify="left")
    for column in ("name", "kind", "parameter sets", "citation", "requires"):
        methods.add_column(column, overflow="fold")
    for name, cls in discover_methods(methods_dir).items():
        explicit = set(getattr(cls, "explicit_parameter_sets", ()))
        sets = "; ".join(
            f"{k} {params_hash(name, v)}: {json.dumps(dict(v), sort_keys=True, default=repr)}" + (" (runs only when named, NAME:SET)" if k in explicit else "")
            for k, v in cls.parameter_sets.items()
        )
        methods.add_row(name, "oracle" if cls.is_oracle else "method", sets, cls.citation or "–", ", ".join(cls.requires) or "–")
    console.print(methods)

    metrics = Table(title="Metrics", title_justify="left")
    for column in ("name", "direction", "chance", "needs weights", "recipe"):
        metrics.add_column(column, overflow="fold")
    try:
        specs = default_metrics(None)
    except ImportError as exc:  # pragma: no cover - the registry is part of the package
        specs = {}
        console.print(f"[red]metrics registry unavailable: {exc}[/]")
    for name, spec in specs.items():
        chance = getattr(spec, "chance", None)
        metrics.add_row(
            name,
            "higher is better" if spec.higher_is_better else "lower is better",
            "–" if chance is None else f"{chance:g}",
            "yes" if spec.needs_weights else "no",
            str(spec.recipe),
        )
    console.print(metrics)

    datasets = Table(title="Datasets", title_justify="left")
    for column in ("name", "evaluation resolution", "subjects", "data"):
        datasets.add_column(column, overflow="fold")
    for name, dataset in CATALOG.items():
        size = dataset.evaluation_size
        if dataset.kind == "simulated":
            subjects = ", ".join(dataset.subjects)
            where = f"{dataset.simulate_command(dataset.default_folder())} (run and bench default folder)"
        elif dataset.kind == "god":
            subjects, where = (
                ", ".join(dataset.subjects),
                f"the GOD files Subject<N>.h5 from figshare 7387130 (--data, default {dataset.default_folder()}) + your stimulus folder",
            )
        else:
            subjects, where = (
                ", ".join(dataset.subjects),
                f"the preprocessed ds001506 files (--data, default {dataset.default_folder()}) + your stimulus folder",
            )
        datasets.add_row(name, "native size" if size is None else f"{size} x {size}", subjects, where)
    console.print(datasets)
