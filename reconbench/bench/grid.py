"""The grid: one cell per method x parameter set x subject x seed, plus the reference rows.

Also what identifies a cell's inputs: the data fingerprint and the hash of a
method's source, which enter each cell's config hash, so a rerun redoes the
cells whose data, metric recipe or method code changed.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Mapping, Sequence

from reconbench.bench.cell import CellSpec
from reconbench.bench.options import RunOptions
from reconbench.bench.registry import method_source
from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import sha256_file, stable_hash
from reconbench.core.method import Method, default_parameter_sets, params_hash, seed_keyword
from reconbench.datasets.catalog import DataFolder
from reconbench.datasets.ds001506.loader import default_image_size
from reconbench.datasets.layouts import LAYOUTS, layouts_found
from reconbench.datasets.simulated.ground_truth import available_ground_truth, simulation_json_path
from reconbench.references import REFERENCES

#: The package of the shared decoders; a method that imports it has their source in its code hash.
DECODERS_PACKAGE = "reconbench.decoders"


def data_fingerprint(root: str | Path, subject: str, layout: str = "") -> str:
    """A cheap fingerprint of one subject's data: session file names and sizes,
    stimulus tables and the simulator's description. Changing the data changes
    the config hash, so stale cells are rerun. ``layout``: the folder's, when known."""
    root = Path(root)
    # The image size the loader uses decides the evaluation resolution of simulated:tiny.
    parts: dict[str, Any] = {"image_size": default_image_size(root)}
    for found in [LAYOUTS[layout]] if layout else layouts_found(root):
        for path in found.subject_files(root, subject):
            parts[path.name] = path.stat().st_size
    described = [simulation_json_path(root)] if simulation_json_path(root).is_file() else []
    for path in sorted(root.glob("stimulus_*.tsv")) + described:
        parts[str(path.relative_to(root))] = stable_hash(path.read_text(encoding="utf-8", errors="replace"))
    if len(parts) == 1:
        raise ReconbenchError(f"no data files for subject {subject} in {root}")
    return stable_hash(parts)


def method_code_hash(cls: type) -> str:
    """A hash of the source a method runs: its module file, the private helper
    modules (``_*.py``) beside it, and the shared decoders
    (``reconbench/decoders/*.py``) when one of those files imports them.

    It is part of each cell's config hash, so a rerun redoes the cells of a
    method whose code changed instead of keeping stale scores. Changes to the
    harness or the metric code are not tracked here (metric recipes are).
    """
    # A plugin's stand-in (:class:`~reconbench.bench.registry.PluginMethod`) names its file; nothing is imported.
    path = Path(getattr(cls, "source_file", "") or inspect.getsourcefile(cls) or "")
    if not path.is_file():
        return ""
    files = [path] + sorted(p for p in path.parent.glob("_*.py") if p.name != "__init__.py" and p != path)
    digests = {p.name: sha256_file(p) for p in files}
    if any(DECODERS_PACKAGE in p.read_text(encoding="utf-8", errors="replace") for p in files):
        decoders = Path(__file__).resolve().parents[1] / "decoders"
        digests.update({f"decoders/{p.name}": sha256_file(p) for p in sorted(decoders.glob("*.py"))})
    return stable_hash(digests)


def parse_method_selection(selection: Sequence[str] | None, available: Mapping[str, type[Method]]) -> list[tuple[str, str | None]]:
    """Turn ``["a", "b:fast"]`` into ``[("a", None), ("b", "fast")]`` (None: every parameter set).

    ``None`` or an empty selection picks every available method.
    """
    if not selection:
        return [(name, None) for name in available]
    chosen = []
    for item in selection:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            name, _, param_set = part.partition(":")
            if name not in available:
                raise ReconbenchError(f"unknown method {name!r}; available: {', '.join(available) or 'none'}")
            if param_set and param_set not in available[name].parameter_sets:
                raise ReconbenchError(f"method {name} has no parameter set {param_set!r}; available: {', '.join(available[name].parameter_sets)}")
            chosen.append((name, param_set or None))
    return chosen


def build_cells(
    folder: DataFolder,
    subjects: Sequence[str],
    methods: Mapping[str, type[Method]],
    selection: Sequence[tuple[str, str | None]],
    metric_specs: Mapping[str, Any],
    options: RunOptions | None = None,
) -> list[CellSpec]:
    """The grid on ``folder`` (:meth:`reconbench.datasets.catalog.Dataset.open`): one :class:`CellSpec` per method x parameter set x subject x seed
    (a method without a seed keyword, :func:`~reconbench.core.method.seed_keyword`,
    runs once, as seed 0), plus one cell per subject for each reference row (:mod:`reconbench.references`)
    whose ground truth the data folder has (unless ``options.references`` is false).

    ``metric_specs`` (name -> metric) enter the config hash by their recipes. From ``options``: seeds
    (default ``(0,)``), methods folder, threads per cell, device (resolved, :mod:`reconbench.core.device`;
    it enters no hash but a GPU cell's key), memory cap and sealing."""
    options = options if options is not None else RunOptions()
    seeds = options.seeds if options.seeds is not None else (0,)
    metric_names = list(metric_specs)
    metric_recipes = {name: str(getattr(spec, "recipe", "")) for name, spec in metric_specs.items()}
    methods_dir, references = options.methods_dir, options.references
    dataset, data, stimuli_dir = folder.name, str(folder.root), folder.stimuli_dir
    cells = []
    for subject in subjects:
        config_hash = stable_hash(
            {
                "dataset": dataset,
                "data": data_fingerprint(data, subject, folder.layout),
                "metrics": {m: metric_recipes.get(m, "") for m in metric_names},
            }
        )
        common = dict(
            dataset=dataset,
            subject=subject,
            data_root=data,
            stimuli_dir=None if stimuli_dir is None else str(stimuli_dir),
            methods_dir=None if methods_dir is None else str(Path(methods_dir).resolve()),
            metrics=tuple(metric_names),
            config_hash=config_hash,
            threads=options.cell_threads(),
            device=str(options.device or "cpu"),
            cell_timeout=float(options.cell_timeout) or None if options.cell_timeout is not None else None,
            cell_memory_mb=options.cell_memory_mb,
            seal=bool(options.seal),
            layout=folder.layout,
        )
        for name, only_set in selection:
            cls = methods[name]
            method_config = stable_hash({"config": config_hash, "code": method_code_hash(cls)})
            source = method_source(cls)  # the one lookup of the class for its cells: its method process imports it from here
            # A set for a GPU (Method.explicit_parameter_sets) runs only when named.
            chosen_sets = default_parameter_sets(cls) if only_set is None else {only_set: cls.parameter_sets[only_set]}
            for param_set, params in chosen_sets.items():
                kind = "oracle" if getattr(cls, "is_oracle", False) else "method"
                # A method that takes no seed cannot depend on it: one cell, seed 0.
                for seed in seeds if seed_keyword(cls) is not None else (0,):
                    cells.append(
                        CellSpec(
                            method=name,
                            param_set=param_set,
                            params=dict(params),
                            params_hash=params_hash(name, params),
                            kind=kind,
                            seed=int(seed),
                            method_source=source,
                            **(common | {"config_hash": method_config}),
                        )
                    )
        if not references:
            continue
        available = available_ground_truth(data, subject)
        for name, reference in REFERENCES.items():
            if reference.applies(available, metric_names):
                cells.append(
                    CellSpec(
                        method=name,
                        param_set="default",
                        params={},
                        params_hash=params_hash(name, {}),
                        kind="reference",
                        seed=0,
                        **common,
                    )
                )
    return cells


def spread_shared_work(cells: Sequence[CellSpec], methods: Mapping[str, type[Method]]) -> list[CellSpec]:
    """Order ``cells`` so that no group of cells sharing an expensive stage starts twice
    before every group has started once.

    A group is the cells of one dataset, subject and seed whose method returns the same
    :meth:`~reconbench.core.method.Method.shared_work_key` (e.g. the divide-and-conquer
    sets that reuse one trained generator); a cell without a key is a group of its own.
    The result takes the first cell of every group (in the given order), then the second
    of every group, and so on: parallel workers then train distinct stages side by side
    and the later cells of a group find its stage in the stage cache. Same cells, other
    order; results do not depend on it.
    """
    groups: dict[Any, list[CellSpec]] = {}
    for index, cell in enumerate(cells):
        hint = getattr(methods.get(cell.method), "shared_work_key", None)  # reference rows are no methods: None
        key = hint(cell.params) if hint is not None else None
        groups.setdefault(("shared", cell.dataset, cell.subject, cell.seed, key) if key is not None else ("own", index), []).append(cell)
    ordered: list[CellSpec] = []
    for position in range(max((len(group) for group in groups.values()), default=0)):
        ordered.extend(group[position] for group in groups.values() if position < len(group))
    return ordered
