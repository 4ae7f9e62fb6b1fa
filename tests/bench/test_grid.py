"""The grid: cells per method x parameter set x subject x seed, reference cells from the ground truth."""

from __future__ import annotations

import shutil

import pytest

from reconbench.bench.grid import build_cells, data_fingerprint, method_code_hash, parse_method_selection
from reconbench.bench.registry import discover_methods
from reconbench.core.errors import ReconbenchError


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
    selection = [("mean_image", None)]
    cells = build_cells("simulated:tiny", tiny_data_dir, ["sub-01"], methods, selection, [0, 1], ["pairwise_identification"], {})
    assert [(c.method, c.kind, c.seed) for c in cells] == [
        ("mean_image", "method", 0),
        ("mean_image", "method", 1),
        ("nearest-category", "reference", 0),
        ("noise-free-ridge", "reference", 0),
        ("noise-ceiling", "reference", 0),
    ]
    assert len({c.key for c in cells}) == 5
    no_ceiling = build_cells("simulated:tiny", tiny_data_dir, ["sub-01"], methods, selection, [0], ["pixcorr"], {})
    assert [c.method for c in no_ceiling] == ["mean_image", "nearest-category", "noise-free-ridge"]
    bare = build_cells("simulated:tiny", tiny_data_dir, ["sub-01"], methods, selection, [0], ["pixcorr"], {}, references=False)
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
