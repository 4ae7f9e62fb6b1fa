"""What a plugin can reach from its method process (issue 26): the stage cache is the harness's to
write, scratch is private to the cell, and the sealed process reads every folder the interpreter
imports from."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from reconbench.bench import sandbox
from reconbench.core.stage_cache import StageCache
from tests.bench.method_requests import method_request

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "reach"
KEY = "ab" * 32


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.bench.cell import _load_split_cached

    return _load_split_cached(str(tiny_data_dir), "sub-01", None)


@pytest.fixture
def stage_cache(tmp_path, monkeypatch):
    """A fresh stage cache, seen by method-process servers started from now on."""
    root = tmp_path / "stages"
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", str(root))
    sandbox.shutdown()  # servers started before have the old environment
    yield StageCache(root)
    sandbox.shutdown()


def _run(stem: str, split, methods_dir: Path = FIXTURES, threads: int = 1) -> sandbox.MethodRun:
    request = method_request(stem, methods_dir, threads=threads)
    outcome = sandbox.run_method(request, split.train, dict(split.test_inputs), timeout=300)
    assert not outcome.fit.error, outcome.fit.traceback
    return outcome


def test_a_plugin_cannot_write_a_stage_cache_entry_through_the_api(stage_cache, tiny_split) -> None:
    """Route 3: an entry a plugin saves through the cache's own API (valid integrity record) never
    reaches the cache a later built-in run reads; its own process still finds it."""
    outcome = _run("poisons_cache", tiny_split)
    assert outcome.stage_log == [{"found_own_entry": True}]
    assert stage_cache.load("shape_decoder", KEY) is None
    assert not stage_cache.path("shape_decoder", KEY).exists()
    assert any("only built-in methods write the stage cache" in note for note in outcome.stage_cache_notes)


def test_a_plugin_cannot_write_the_stage_cache_folder(stage_cache, tiny_split) -> None:
    """Route 3: the sealed process may read the stage cache, never write it."""
    stage_cache.root.mkdir(parents=True)
    outcome = _run("writes_cache_file", tiny_split)
    if not outcome.sealed:
        pytest.skip(f"no Landlock here: {outcome.seal_note}")
    assert outcome.stage_log == [{"result": "PermissionError"}]
    assert not (stage_cache.root / "planted.npz").exists()


def test_the_harness_writes_a_built_in_methods_entries_and_refuses_unmarked_ones(stage_cache) -> None:
    """Route 3: a built-in cell's handed-over entry is written (marked as the harness's); an entry
    without that mark (written by a method process of an earlier version) is recomputed with a warning."""
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.arange(4.0))
    header = {"stage": "shape_decoder", "key": KEY, "meta": {"n": 1}}
    assert sandbox._store_stage_entry({"module": "reconbench.methods.divide_and_conquer"}, header, buffer.getvalue()) == ""
    arrays, meta = stage_cache.load("shape_decoder", KEY)
    assert np.array_equal(arrays["weights"], np.arange(4.0)) and meta == {"n": 1}
    note = sandbox._store_stage_entry({"module": "reconbench_user_methods.x"}, header | {"key": "cd" * 32}, buffer.getvalue())
    assert "only built-in methods" in note and stage_cache.load("shape_decoder", "cd" * 32) is None

    # An entry as earlier versions wrote it: a valid integrity record without the harness's mark.
    path = stage_cache.path("shape_decoder", KEY)
    with np.load(path) as data:
        payload = {name: data[name] for name in data.files}
    entry = json.loads(str(payload["__entry__"]))
    del entry["writer"]
    payload["__entry__"] = np.array(json.dumps(entry))
    with open(path, "wb") as handle:
        np.savez(handle, **payload)
    assert stage_cache.load("shape_decoder", KEY) is None
    assert "not written by the harness" in stage_cache.rejected[-1][2]


def test_a_cell_shares_no_scratch_folder_with_another(tiny_split) -> None:
    """Route 4: no /dev/shm or /tmp to leave the true images in for a later cell; every scratch
    variable names the cell's private folder; joblib still runs (one task after the other), and multiprocessing's
    lock fails with a hint instead of a bare PermissionError."""
    outcome = _run("shares_scratch", tiny_split, threads=2)
    if not outcome.sealed:
        pytest.skip(f"no Landlock here: {outcome.seal_note}")
    (log,) = outcome.stage_log
    assert log["dev_shm"] == log["tmp"] == "PermissionError"
    assert log["own"] == "written"
    assert set(log["scratch"].values()) == {log["cwd"]} and log["tempdir"] == log["cwd"]
    assert not Path(log["cwd"]).exists()  # removed with the cell
    assert log["joblib"] == [0, 1, 2]
    # joblib's core count is the cell's threads (scikit-learn's KMeans sizes its threads by it: with
    # JOBLIB_MULTIPROCESSING=0 it was 1, and the K-means sets' scores moved).
    assert log["cpu_count"] == min(2, os.cpu_count() or 1)
    assert "has no /dev/shm" in log["lock"]


@pytest.mark.parametrize("layout", ["out_in_methods", "methods_in_out", "data_in_methods", "out_is_methods"])
def test_true_images_never_land_where_a_method_reads(tmp_path, layout) -> None:
    """Route 4: --out inside --methods-dir (its _true thumbnails), the reverse, or the data inside
    --methods-dir are refused with a clear error."""
    from reconbench.bench.runner import check_out_folder
    from reconbench.core.errors import ReconbenchError

    methods, out, data = tmp_path / "methods", tmp_path / "out", tmp_path / "data"
    if layout == "out_in_methods":
        out = methods / "results"
    elif layout == "methods_in_out":
        methods = out / "plugins"
    elif layout == "data_in_methods":
        data = methods / "data"
    else:
        out = methods
    for folder in (methods, out, data):
        folder.mkdir(parents=True, exist_ok=True)
    with pytest.raises(ReconbenchError, match="method process may read|where the true images are written"):
        check_out_folder(out, data, None, methods)
    check_out_folder(tmp_path / "elsewhere", data if layout != "data_in_methods" else tmp_path / "d2", None, tmp_path / "m2")


@pytest.mark.parametrize("what", ["data", "out"])
def test_data_and_results_inside_the_python_installation_are_refused(tmp_path, monkeypatch, what) -> None:
    """Route 4: a data or results folder inside a folder every method process may read (e.g. a virtual
    environment's folder, as tox's {envtmpdir} was) is refused: the seal could not hide it."""
    from reconbench.bench import runner
    from reconbench.core.errors import ReconbenchError

    venv = tmp_path / "venv"
    monkeypatch.setattr(runner, "readable_folders", lambda methods_dir: [str(venv), "/proc/cpuinfo"])
    folders = {"data": tmp_path / "data", "out": tmp_path / "out"} | {what: venv / "tmp" / what}
    folders["data"].mkdir(parents=True)
    with pytest.raises(ReconbenchError, match="a method process may read"):
        runner.check_out_folder(folders["out"], folders["data"])


def test_packages_on_pythonpath_are_readable_and_the_server_forks_single_threaded(tmp_path, monkeypatch, tiny_split) -> None:
    """Route 5: a package imported from a PYTHONPATH folder (not site-packages) loads in a sealed
    method process (it failed with PermissionError), and the method-process server has one thread
    when it forks (Python 3.12 warns otherwise: "use of fork() may lead to deadlocks in the child")."""
    packages = tmp_path / "packages"
    (packages / "extpkg").mkdir(parents=True)
    (packages / "extpkg" / "__init__.py").write_text("VALUE = 3\n")
    monkeypatch.setenv("PYTHONPATH", str(packages))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    sandbox.shutdown()  # a server started from now on has this PYTHONPATH
    try:
        outcome = _run("imports_extpkg", tiny_split)
        assert outcome.stage_log == [{"value": 3}]
        (server,) = sandbox._ALL_ZYGOTES
        assert server.ready
        env = sandbox._zygote_environment(())
        zygote = sandbox._Zygote(env, ("probe",))
        try:
            assert zygote._receive(120) == {"type": "ready", "threads": 1}
        finally:
            zygote.close()
        assert json.loads(env[sandbox.RESTORE_ENV])["OPENBLAS_NUM_THREADS"] == "2"  # the method process gets the user's value back
    finally:
        sandbox.shutdown()


def test_folders_a_method_reads_never_hold_the_temporary_folder_or_a_checkout() -> None:
    """Route 5: every sys.path folder is readable, but never one that holds the cells' and the split's
    temporary folders, nor a source checkout (its runs/ results)."""
    import tempfile

    folders = [Path(f) for f in sandbox.import_folders()]
    temp = Path(tempfile.gettempdir()).resolve()
    assert all(f != temp and f not in temp.parents for f in folders)
    if (REPO / "pyproject.toml").exists():
        assert REPO.resolve() not in folders
    assert str(REPO / "reconbench") in sandbox.readable_folders(None)


def test_methods_see_opaque_stimulus_ids_and_rows_keep_the_real_ones(tiny_data_dir, tiny_split, tmp_path) -> None:
    """Route 7: a method sees ids that name no image (the shapes' and letters' ids name shape, colour
    and letter); the harness scores and records the real ids, in the same order."""
    from reconbench.bench.runner import run_benchmark

    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "out",
        methods=["reports_ids"],
        metrics=["pixcorr"],
        methods_dir=FIXTURES,
        references=False,
        leaderboard=False,
    )
    rows = summary.rows
    assert set(rows["status"]) == {"ok"}, rows["error"].unique()
    key = rows["cell_key"].iloc[0]
    record = json.loads((tmp_path / "out" / "cells" / f"{key}.json").read_text())
    (seen,) = record["stage_log"]
    for test_set, test_input in tiny_split.test_inputs.items():
        real = [str(s) for s in test_input.stimulus_ids]
        assert seen[test_set] == [f"{test_set}-{k:04d}" for k in range(len(real))]
        assert not set(seen[test_set]) & set(real)
        assert set(rows.loc[rows["test_set"] == test_set, "stimulus_id"]) == set(real)


def test_a_blind_run_simulates_from_a_secret_seed_in_a_private_folder(tiny_data_dir, tmp_path) -> None:
    """Route 7: bench --blind draws the data from a fresh seed (not the public seed 0 a method could
    regenerate), kept in OUT/blind.json, in a temporary folder removed after the run; a resumed run
    reuses the seed."""
    import tempfile

    from reconbench.bench.runner import run_benchmark, run_preset

    leftovers = set(Path(tempfile.gettempdir()).glob("reconbench-blind-*"))
    options = dict(methods=["mean_image"], seeds=[0], subjects=["sub-01"])
    blind = run_preset("tiny", out=tmp_path / "blind", blind=True, **options)
    record = json.loads((tmp_path / "blind" / "blind.json").read_text())
    assert record["preset"] == "tiny" and record["seed"] != 0
    assert set(Path(tempfile.gettempdir()).glob("reconbench-blind-*")) == leftovers
    public = run_benchmark(
        "simulated:tiny", tiny_data_dir, tmp_path / "public", methods=["mean_image"], metrics=["pixcorr"], references=False, leaderboard=False
    )

    def pixcorr(rows):
        return rows[(rows["metric"] == "pixcorr") & (rows["method"] == "mean_image")].sort_values(["test_set", "stimulus_id"])["value"].to_numpy()

    assert len(pixcorr(blind.rows)) == len(pixcorr(public.rows)) and not np.array_equal(pixcorr(blind.rows), pixcorr(public.rows))
    again = run_preset("tiny", out=tmp_path / "blind", blind=True, **options)
    assert again.n_skipped == blind.n_run  # the same secret seed: its cells are finished
    assert json.loads((tmp_path / "blind" / "blind.json").read_text()) == record
