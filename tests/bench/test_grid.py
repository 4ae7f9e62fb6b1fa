"""The grid: cells per method x parameter set x subject x seed, reference cells from the ground truth."""

from __future__ import annotations

import shutil

import pytest

from reconbench.bench.evaluator import default_metrics
from reconbench.bench.grid import build_cells, data_fingerprint, method_code_hash, parse_method_selection
from reconbench.bench.options import RunOptions
from reconbench.bench.registry import discover_methods
from reconbench.core.errors import ReconbenchError
from reconbench.datasets.catalog import get_dataset


def test_selection_parsing() -> None:
    methods = discover_methods()
    assert parse_method_selection(None, methods) == [(name, None) for name in methods]
    assert parse_method_selection(["mean_image,pixel_ridge:default"], methods) == [("mean_image", None), ("pixel_ridge", "default")]
    with pytest.raises(ReconbenchError, match="unknown method 'nope'"):
        parse_method_selection(["nope"], methods)
    with pytest.raises(ReconbenchError, match="has no parameter set 'huge'"):
        parse_method_selection(["mean_image:huge"], methods)


def test_cells_and_reference_cells(tiny_data_dir) -> None:
    methods = discover_methods()
    selection = [("mean_image", None), ("divide_and_conquer", "default")]
    cells = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir),
        ["sub-01"],
        methods,
        selection,
        default_metrics(["pairwise_identification"]),
        RunOptions(seeds=[0, 1]),
    )
    # mean_image takes no seed, so it runs once (seed 0); divide-and-conquer takes random_state: once per seed.
    assert [(c.method, c.kind, c.seed) for c in cells] == [
        ("mean_image", "method", 0),
        ("divide_and_conquer", "method", 0),
        ("divide_and_conquer", "method", 1),
        ("nearest-category", "reference", 0),
        ("noise-free-ridge", "reference", 0),
        ("noise-ceiling", "reference", 0),
    ]
    assert len({c.key for c in cells}) == 6
    assert [
        c.seed
        for c in build_cells(
            get_dataset("simulated:tiny").open(tiny_data_dir),
            ["sub-01"],
            methods,
            [("mean_image", None)],
            default_metrics(["pixcorr"]),
            RunOptions(seeds=[3, 4], references=False),
        )
    ] == [0]
    no_ceiling = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir), ["sub-01"], methods, selection[:1], default_metrics(["pixcorr"]), RunOptions(seeds=[0])
    )
    assert [c.method for c in no_ceiling] == ["mean_image", "nearest-category", "noise-free-ridge"]
    bare = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir),
        ["sub-01"],
        methods,
        selection[:1],
        default_metrics(["pixcorr"]),
        RunOptions(seeds=[0], references=False),
    )
    assert [c.method for c in bare] == ["mean_image"]


def test_the_config_hash_follows_data_and_code(tiny_data_dir, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    copy = tmp_path / "copy"
    shutil.copytree(tiny_data_dir, copy)
    assert data_fingerprint(copy, "sub-01") == data_fingerprint(tiny_data_dir, "sub-01")
    (copy / "stimulus_LetterImage.tsv").write_text("changed\n")
    assert data_fingerprint(copy, "sub-01") != data_fingerprint(tiny_data_dir, "sub-01")
    with pytest.raises(ReconbenchError, match="no data files for subject sub-09"):
        data_fingerprint(tmp_path / "empty", "sub-09")
    methods = discover_methods()
    # pixel_ridge imports the shared decoders, mean_image does not: their hashes cover different files.
    assert method_code_hash(methods["pixel_ridge"]) != method_code_hash(methods["mean_image"])
    assert len(method_code_hash(methods["mean_image"])) == 16


def test_cells_sharing_a_generator_do_not_start_side_by_side(tiny_data_dir) -> None:
    """Issue 15 (use the cores): at -j 2, `default` and `shape_v1` started together and both
    trained the one generator they share (378 s and 381 s, the same stage key)."""
    from reconbench.bench.grid import spread_shared_work

    methods = discover_methods()
    selection = parse_method_selection(["divide_and_conquer,divide_and_conquer_oracle,mean_image"], methods)
    cells = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir), ["sub-01"], methods, selection, default_metrics(["pixcorr"]), RunOptions(seeds=[0, 1])
    )
    ordered = spread_shared_work(cells, methods)
    assert sorted(c.key for c in ordered) == sorted(c.key for c in cells)  # same cells
    labels = [(c.method, c.param_set, c.seed) for c in ordered]
    # Seed 0: the shared generator of default/shape_v1/shape_lvc/swapped/the oracle's default
    # is trained by the first of them; the others come after every other set has started.
    shared = [("divide_and_conquer", s, 0) for s in ("default", "shape_v1", "shape_lvc", "swapped")] + [("divide_and_conquer_oracle", "default", 0)]
    first_rest = labels.index(shared[1])
    starters = labels[:first_rest]
    assert shared[0] in starters and not set(shared[1:]) & set(starters)
    for own in ("no_semantics", "mixed_training", "extra_images", "perceptual", "published"):
        assert ("divide_and_conquer", own, 0) in starters and ("divide_and_conquer", own, 1) in starters
    assert ("mean_image", "default", 0) in starters and ("nearest-category", "default", 0) in starters
    # The order within a group is kept.
    assert [label for label in labels if label in shared] == shared
    # Without hints the order is unchanged.
    plain = [c for c in cells if c.method == "mean_image" or c.kind == "reference"]
    assert spread_shared_work(plain, methods) == plain


def test_a_set_for_a_gpu_runs_only_when_named_and_no_bench_grid_names_it(tiny_data_dir) -> None:
    from reconbench.bench.presets import BENCH_GRIDS

    methods = discover_methods()
    every = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir),
        ["sub-01"],
        methods,
        [("divide_and_conquer", None)],
        default_metrics(["pixcorr"]),
        RunOptions(seeds=[0], references=False),
    )
    assert "published_full" not in {c.param_set for c in every} and "published" in {c.param_set for c in every}
    named = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir),
        ["sub-01"],
        methods,
        [("divide_and_conquer", "published_full")],
        default_metrics(["pixcorr"]),
        RunOptions(seeds=[0], references=False),
    )
    assert [(c.param_set, c.params["size"]) for c in named] == [("published_full", "full")]
    for grids in BENCH_GRIDS.values():
        for grid in grids.values():
            assert not any("published_full" in name for name in grid.methods or ())


def test_the_device_is_in_every_spec_and_in_a_gpu_cells_key_only(tiny_data_dir) -> None:
    methods = discover_methods()
    selection = [("mean_image", None), ("divide_and_conquer", "default")]
    on_cpu = build_cells(get_dataset("simulated:tiny").open(tiny_data_dir), ["sub-01"], methods, selection, default_metrics(["pixcorr"]), RunOptions(seeds=[0]))
    default = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir), ["sub-01"], methods, selection, default_metrics(["pixcorr"]), RunOptions(seeds=[0], device="cpu")
    )
    on_gpu = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir), ["sub-01"], methods, selection, default_metrics(["pixcorr"]), RunOptions(seeds=[0], device="cuda")
    )
    assert {c.device for c in on_cpu} == {"cpu"} and {c.device for c in on_gpu} == {"cuda"}
    assert [c.key for c in on_cpu] == [c.key for c in default]
    assert all(a.key != b.key for a, b in zip(on_cpu, on_gpu))
    # Same hyperparameters and inputs: the params and config hashes do not name the device.
    assert [(c.params_hash, c.config_hash) for c in on_cpu] == [(c.params_hash, c.config_hash) for c in on_gpu]
