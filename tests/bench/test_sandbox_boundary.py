"""Crossing the boundary once (issue 26): a cell's job goes to its method process as one pickle, its
arrays out of band; the method class is resolved once, in the process that runs it; a reconstruction is
checked once by the parent, on the bytes it scores (the method's own output is checked where it exists,
in the method process, which the parent does not trust).

The plugins are in ``tests/data/sandbox_server``.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from reconbench.bench import sandbox
from reconbench.bench.evaluator import default_metrics
from reconbench.bench.options import RunOptions
from reconbench.datasets.catalog import get_dataset
from tests.bench.method_requests import method_request

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "sandbox_server"
SIZE = 32  # the evaluation size handed to the method process in these tests


@pytest.fixture(scope="module")
def methods_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("boundary") / "methods"
    shutil.copytree(FIXTURES, folder)
    return folder


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.bench.cell import _load_split_cached

    return _load_split_cached(str(tiny_data_dir), "sub-01", None)


def test_the_job_crosses_as_one_pickle_whose_arrays_stay_out_of_band(methods_dir, tiny_split, monkeypatch) -> None:
    """The parent pickles the job once and writes one frame to the method process; the frame holds no
    array data (the arrays are mapped from memory files), and the method still gets all of it."""
    pickled, frames = [], []
    dumps, write_frame = pickle.dumps, sandbox._write_frame

    def counting_dumps(obj, *args, **kwargs):
        pickled.append(type(obj).__name__)
        return dumps(obj, *args, **kwargs)

    def recording_write_frame(fd, payload):
        frames.append(len(payload))
        return write_frame(fd, payload)

    monkeypatch.setattr(pickle, "dumps", counting_dumps)
    monkeypatch.setattr(sandbox, "_write_frame", recording_write_frame)
    outcome = sandbox.run_method(method_request("counts_imports", methods_dir, size=SIZE), tiny_split.train, dict(tiny_split.test_inputs), timeout=300)
    monkeypatch.undo()
    assert not outcome.fit.error, outcome.fit.traceback
    assert len(pickled) == 1 and len(frames) == 1, (pickled, frames)
    arrays = tiny_split.train.images.nbytes + sum(a.nbytes for a in tiny_split.train.fmri.values())
    assert frames[0] < arrays / 20, (frames[0], arrays)
    (log,) = outcome.stage_log
    assert log["train_images"] == list(tiny_split.train.images.shape)  # what the method got is the whole job
    assert sorted(log["test_sets"]) == sorted(tiny_split.test_inputs)


def test_a_plugins_cell_imports_it_once_in_its_method_process_and_never_in_the_harness(tiny_data_dir, methods_dir, monkeypatch) -> None:
    """The grid looks the method up once; the cell, in a process that has never seen the plugin (a fresh
    worker: no stand-in of the folder), needs no lookup of its own, and the method process imports the
    plugin's file once for fit, reconstruct and stage outputs."""
    import sys

    from reconbench.bench import registry
    from reconbench.bench.cell import run_cell
    from reconbench.bench.grid import build_cells

    methods = registry.discover_methods(methods_dir)
    folder = get_dataset("simulated:tiny").open(tiny_data_dir)
    options = RunOptions(methods_dir=methods_dir, references=False)
    (spec,) = build_cells(folder, ["sub-01"], methods, [("counts_imports", None)], default_metrics(["pixcorr"]), options)

    def no_import(*args, **kwargs):
        raise AssertionError("the harness imported a plugin to run its cell")

    monkeypatch.setattr(registry, "_FOLDER_CACHE", {})
    monkeypatch.setattr(registry, "_sealed_describe", no_import)
    result = run_cell(spec)
    assert result.record["status"] == "ok", result.record["errors"]
    (log,) = result.record["stage_log"]
    assert log["imports"] == 1 and sorted(log["test_sets"]) == sorted(set(result.rows["test_set"]))
    assert set(result.record["stage_diagnostics"]) == set(log["test_sets"])  # stage outputs came from the same instance
    assert "reconbench_user_methods.counts_imports" not in sys.modules


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("nan", "a reconstruction with 1 non-finite values (NaN or inf)"),
        ("bright", "a reconstruction with values in [0.5, 2], outside [0, 1]"),
        ("float64", "a reconstruction of dtype float64, expected float32"),
    ],
)
def test_a_forged_reconstruction_is_refused_by_the_parent_before_it_is_scored(methods_dir, tiny_split, mode, expected) -> None:
    """A method that writes its own well-formed reconstruction message (bypassing the method process's
    check of its output) gets no image scored: the parent checks what arrives, and stops the cell."""
    request = method_request("forges_frames", methods_dir, params={"mode": f"reconstruct-{mode}", "size": SIZE}, size=SIZE)
    outcome = sandbox.run_method(request, tiny_split.train, dict(tiny_split.test_inputs), timeout=120)
    first, *later = list(tiny_split.test_inputs)
    assert not outcome.fit.error, outcome.fit.error
    result = outcome.test_sets[first]
    assert result.predictions is None
    assert result.error.startswith("MethodProcessError: malformed message from the method process") and expected in result.error, result.error
    assert all(outcome.test_sets[name].error.startswith("MethodProcessError: not run") for name in later)


@pytest.mark.parametrize("mode, expected", [("nan", "returned 1 non-finite values (NaN or inf)"), ("bright", "returned values in [0.5, 1.5], expected [0, 1]")])
def test_an_invalid_output_fails_each_test_set_once_with_the_methods_message(tiny_data_dir, methods_dir, mode, expected) -> None:
    """A method's invalid output is refused as its own (8 x 8 images: a value above 1 is refused even
    though the resize to the evaluation size would clip it), one failed row per test set, one message."""
    import dataclasses

    from reconbench.bench.cell import run_cell
    from reconbench.bench.grid import build_cells
    from reconbench.bench.registry import discover_methods

    methods = discover_methods(methods_dir)
    (spec,) = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir),
        ["sub-01"],
        methods,
        [("raises_in_stages", None)],
        default_metrics(["pixcorr"]),
        RunOptions(methods_dir=methods_dir, references=False),
    )
    result = run_cell(dataclasses.replace(spec, params={"mode": mode}))
    rows = result.rows
    assert (rows["status"] == "failed").all() and sorted(rows["test_set"]) == sorted(result.record["errors"])
    for test_set, error in result.record["errors"].items():
        assert error == f"EvaluationError: raises_in_stages {expected}", (test_set, error)


def test_the_harness_checks_each_reconstruction_once_as_it_arrives(tiny_data_dir, methods_dir, monkeypatch) -> None:
    """One check per test set in the harness (the message's, as it is read); the evaluator aligns and scores
    it without checking it again (a reference row, harness code in the cell's process, is checked there)."""
    from reconbench.bench import evaluator
    from reconbench.bench.cell import run_cell
    from reconbench.bench.grid import build_cells
    from reconbench.bench.registry import discover_methods

    (spec,) = build_cells(
        get_dataset("simulated:tiny").open(tiny_data_dir),
        ["sub-01"],
        discover_methods(methods_dir),
        [("counts_imports", None)],
        default_metrics(["pixcorr"]),
        RunOptions(methods_dir=methods_dir, references=False),
    )
    checks = []
    on_arrival, by_evaluator = sandbox._reconstruction, evaluator.check_reconstructions
    monkeypatch.setattr(sandbox, "_reconstruction", lambda *a, **k: checks.append("arrival") or on_arrival(*a, **k))
    monkeypatch.setattr(evaluator, "check_reconstructions", lambda *a, **k: checks.append("evaluator") or by_evaluator(*a, **k))
    result = run_cell(spec)
    assert result.record["status"] == "ok", result.record["errors"]
    assert checks == ["arrival"] * len(set(result.rows["test_set"])), checks
