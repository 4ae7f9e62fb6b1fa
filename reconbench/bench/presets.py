"""What ``reconbench bench`` runs on each simulated preset, and where it keeps its folders.

A preset's grids (:data:`BENCH_GRIDS`: ``headline`` and ``all``, methods and seeds), the
subjects it runs (:data:`BENCH_SUBJECTS`), and the default data, output and reference
folders of a preset in either file layout. The runner (:mod:`reconbench.bench.runner`)
runs what is named here; nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconbench.bench.registry import discover_methods
from reconbench.core.errors import ReconbenchError
from reconbench.datasets.catalog import SIMULATED_GOD, get_dataset

#: Subjects ``reconbench bench`` runs per preset (None: every subject of the preset).
#: ``default`` runs sub-01 only: every parameter set of the divide-and-conquer
#: family trains a generator, and three subjects would triple a run that should
#: take minutes on 2 CPU cores. ``--subjects sub-01,sub-02,sub-03`` runs all.
BENCH_SUBJECTS: dict[str, tuple[str, ...] | None] = {"tiny": None, "ci": None, "default": ("sub-01",), "full": None}

#: The parameter sets of the divide-and-conquer family that the headline grid runs: the method as the
#: simulator's default and as published, the swapped ROI assignment, K-means semantics and the generator's oracle.
HEADLINE_GENERATOR_SETS = (
    "divide_and_conquer:default",
    "divide_and_conquer:published",
    "divide_and_conquer:swapped",
    "divide_and_conquer_kmeans",
    "divide_and_conquer_oracle:default",
)
BASELINES = ("mean_image", "pixel_ridge", "nearest_neighbor", "category_prototype")


@dataclass(frozen=True)
class BenchGrid:
    """What ``reconbench bench --grid NAME`` runs on a preset: methods (``NAME`` or ``NAME:SET``;
    None: every discovered method with every parameter set) and seeds (a method without a seed
    runs once, :func:`reconbench.core.method.seed_keyword`). The reference rows always run."""

    methods: tuple[str, ...] | None
    seeds: tuple[int, ...]
    description: str


#: The headline grid of the default and full presets.
HEADLINE_GRID = BenchGrid(
    (*BASELINES, *HEADLINE_GENERATOR_SETS),
    (0,),
    "the baselines and divide-and-conquer default, published, swapped, both K-means sets and the oracle, seed 0",
)
#: The grids of ``reconbench bench`` per preset (``--grid``); ``headline`` is the default.
#: ``ci`` is the regression preset: one cell per kind of computation (floor, linear decoders,
#: retrieval, K-means classifiers, the generator trained on true and on mixed inputs, K-means
#: semantics, the generator's oracle), each seeded one with three seeds, so that its tolerances can
#: bound the seeded rows by their seed spread (docs/regression.md).
BENCH_GRIDS: dict[str, dict[str, BenchGrid]] = {
    "tiny": {
        "headline": BenchGrid(None, (0,), "every method and parameter set, seed 0"),
        "all": BenchGrid(None, (0, 1, 2), "every method and parameter set, seeds 0, 1, 2"),
    },
    "ci": {
        "headline": BenchGrid(
            (*BASELINES, "divide_and_conquer:default", "divide_and_conquer:mixed_training", "divide_and_conquer_kmeans", "divide_and_conquer_oracle:default"),
            (0, 1, 2),
            "the regression grid: the baselines, divide-and-conquer default and mixed_training, both K-means sets and the oracle, seeds 0, 1, 2",
        ),
        "all": BenchGrid(None, (0, 1, 2), "every method and parameter set, seeds 0, 1, 2"),
    },
    "default": {
        "headline": HEADLINE_GRID,
        "all": BenchGrid(None, (0, 1, 2), "every method and parameter set (all ablations), seeds 0, 1, 2: the committed results/default"),
    },
    "full": {"headline": HEADLINE_GRID, "all": BenchGrid(None, (0, 1, 2), "every method and parameter set, seeds 0, 1, 2")},
}
GRID_NAMES = ("headline", "all")


def grid_methods_with_plugins(grid: BenchGrid, methods_dir: str | Path | None) -> tuple[str, ...] | None:
    """The grid's methods, plus every method of ``methods_dir`` (a plugin runs beside the grid it is compared with)."""
    if grid.methods is None or methods_dir is None:
        return grid.methods
    builtin = discover_methods()
    return (*grid.methods, *(name for name in discover_methods(methods_dir) if name not in builtin))


def bench_grid(preset: str, grid: str = "headline") -> BenchGrid:
    """The :class:`BenchGrid` named ``grid`` of ``preset``."""
    if grid not in GRID_NAMES:
        raise ReconbenchError(f"unknown grid {grid!r}; expected one of {', '.join(GRID_NAMES)}")
    return BENCH_GRIDS[preset][grid]


def simulated_dataset_name(preset: str, layout: str = "ds001506") -> str:
    """``simulated:<preset>`` (ds001506 layout) or ``simulated-god:<preset>`` (GOD layout)."""
    return f"{SIMULATED_GOD}:{preset}" if layout == "god" else f"simulated:{preset}"


def default_bench_data(preset: str, layout: str = "ds001506") -> Path:
    """Where ``reconbench bench`` keeps its data: the dataset's default folder
    (:meth:`reconbench.datasets.catalog.Dataset.default_folder`: ``$RECONBENCH_DATA``,
    else ``~/reconbench_data/simulated-<preset>``, or ``simulated-god-<preset>``)."""
    return get_dataset(simulated_dataset_name(preset, layout)).default_folder()


def preset_folder_name(preset: str, layout: str = "ds001506") -> str:
    """``<preset>`` (ds001506 layout) or ``simulated-god-<preset>``: the name of a preset's results folders."""
    return preset if layout == "ds001506" else f"{SIMULATED_GOD}-{preset}"


def default_bench_out(preset: str, layout: str = "ds001506") -> Path:
    """Where ``reconbench bench`` writes by default: ``runs/<preset>``, beside (never into) the
    committed reference ``results/<preset>``."""
    return Path("runs") / preset_folder_name(preset, layout)


def default_bench_reference(preset: str, layout: str = "ds001506") -> Path:
    """The committed reference ``reconbench bench`` compares with by default: ``results/<preset>``."""
    return Path("results") / preset_folder_name(preset, layout)
