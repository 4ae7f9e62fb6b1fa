"""The method-process server (zygote) of :mod:`reconbench.bench.sandbox`: fresh processes per
cell, cell folders that never outlive their run, joblib without warnings, and the weights a
method loads in its own process recorded in its rows."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reconbench.bench import sandbox
from tests.bench.method_requests import method_request

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "sandbox_server"
CLI = [sys.executable, "-c", "from reconbench.cli import main; main()"]


@pytest.fixture(scope="module")
def methods_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("server") / "methods"
    shutil.copytree(FIXTURES, folder)
    shutil.copy(REPO / "tests" / "data" / "trust_boundary" / "sleeper.py", folder / "sleeper.py")
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    return folder


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.bench.cell import _load_split_cached

    return _load_split_cached(str(tiny_data_dir), "sub-01", None)


def _run(stem: str, methods_dir: Path, split, threads: int = 1) -> sandbox.MethodRun:
    request = method_request(stem, methods_dir, threads=threads)
    outcome = sandbox.run_method(request, split.train, dict(split.test_inputs), timeout=300)
    assert not outcome.fit.error, outcome.fit.traceback
    return outcome


def test_each_cell_gets_a_fresh_process_in_a_private_folder_that_is_removed(methods_dir, tiny_split) -> None:
    first = _run("writes_tmp", methods_dir, tiny_split).stage_log[0]
    second = _run("writes_tmp", methods_dir, tiny_split).stage_log[0]
    assert first["pid"] != second["pid"]  # one process per cell...
    assert first["ppid"] == second["ppid"] != os.getpid()  # ...forked by the same server, not by this process
    root = sandbox.cells_root()
    for log in (first, second):
        cwd = Path(log["cwd"])
        assert cwd.parent == root and Path(log["tmp"]).parent == cwd  # TMPDIR is the private folder
        assert not cwd.exists()  # removed with the cell
    assert root.name == f"reconbench-cells-{os.getpid()}-{sandbox._start_time(os.getpid())}"


def test_stale_cell_folders_of_dead_or_reused_pids_are_removed(tmp_path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_pid = finished.pid  # a pid whose process has exited and been reaped
    me = os.getpid()
    folders = {
        "dead": tmp_path / f"reconbench-cells-{dead_pid}-12345",
        "reused": tmp_path / f"reconbench-cells-{me}-1",  # this pid, but another start time
        "live": tmp_path / f"reconbench-cells-{me}-{sandbox._start_time(me)}",
        "other": tmp_path / "reconbench-cells-notapid",
        "legacy": tmp_path / "reconbench-cell-abc123",  # an older version's name: not ours to judge
    }
    for folder in folders.values():
        (folder / "cell-x").mkdir(parents=True)
    removed = sandbox.remove_stale_cell_folders(tmp_path)
    assert sorted(removed) == sorted([folders["dead"], folders["reused"]])
    assert [name for name, f in folders.items() if f.exists()] == ["live", "other", "legacy"]
    # The runs' shared split folders follow the same rule.
    from reconbench.bench.shared_split import remove_stale_split_folders

    dead_split, live_split = tmp_path / f"reconbench-splits-{dead_pid}-7", tmp_path / f"reconbench-splits-{me}-{sandbox._start_time(me)}"
    dead_split.mkdir()
    live_split.mkdir()
    assert remove_stale_split_folders(tmp_path) == [dead_split]
    assert live_split.exists() and folders["live"].exists()


def test_a_sigkilled_run_leaves_no_cell_folder_after_the_next_start(tiny_data_dir, methods_dir, tmp_path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    log = tmp_path / "stderr.txt"
    with open(log, "w") as handle:
        run = subprocess.Popen(
            CLI
            + [
                "run",
                "--dataset",
                "simulated:tiny",
                "--data",
                str(tiny_data_dir),
                "--out",
                str(tmp_path / "out1"),
                "--methods-dir",
                str(methods_dir),
                "--methods",
                "sleeper",
                "--metrics",
                "pixcorr",
                "--no-leaderboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env=env,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(tmp.glob("reconbench-cells-*/cell-*/sleeper.pid")) and run.poll() is None:
        time.sleep(0.5)
    assert list(tmp.glob("reconbench-cells-*/cell-*/sleeper.pid")), log.read_text()[-2000:]
    left = list(tmp.glob(f"reconbench-cells-{run.pid}-*"))
    assert len(left) == 1 and any(left[0].iterdir())  # the run's folder with the sleeper's cell folder
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    time.sleep(1)
    assert left[0].exists()  # nothing could clean up after a SIGKILL...
    done = subprocess.run(
        CLI
        + [
            "run",
            "--dataset",
            "simulated:tiny",
            "--data",
            str(tiny_data_dir),
            "--out",
            str(tmp_path / "out2"),
            "--methods-dir",
            str(methods_dir),
            "--methods",
            "my_lowres_ridge:default",
            "--metrics",
            "pixcorr",
            "--no-leaderboard",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp.glob("reconbench-cells-*"))  # ...the next run removed it, and its own at exit


@pytest.mark.parametrize("threads", sorted({1, os.cpu_count() or 1}))
def test_joblib_finds_the_core_count_without_warning(methods_dir, tiny_split, capfd, threads) -> None:
    sandbox.shutdown()  # a server started under this test's captured stderr
    log = _run("counts_cores", methods_dir, tiny_split, threads=threads).stage_log[0]
    sandbox.shutdown()
    err = capfd.readouterr().err
    assert "physical cores" not in err and not any("physical cores" in w for w in log["warnings"]), (err, log)
    assert log["loky"] == str(threads)
    assert 1 <= log["cores"] <= (os.cpu_count() or 1)
    if threads < (os.cpu_count() or 1):
        assert log["cores"] == threads


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_weights_loaded_in_the_method_process_are_reported(methods_dir, tiny_split, weights_cache) -> None:
    outcome = _run("loads_weights", methods_dir, tiny_split)
    assert outcome.weights == {"alexnet": _sha256(weights_cache / "weights" / "alexnet.pt")}
    nothing = _run("writes_tmp", methods_dir, tiny_split)
    assert nothing.weights == {}


def test_a_forged_weights_report_is_dropped() -> None:
    from reconbench.metrics.weights import PINNED_SHA256

    real = PINNED_SHA256["vgg16.pt"]
    assert sandbox._pinned_weights({"vgg16": real, "alexnet": "0" * 64, "mine": real}) == {"vgg16": real}
    assert sandbox._pinned_weights(["alexnet"]) == {}


def test_rows_record_the_weights_of_the_method_process(tiny_data_dir, methods_dir, weights_cache, tmp_path) -> None:
    from reconbench.bench.runner import run_benchmark

    # pixcorr needs no weights: whatever the rows name was loaded by the method, in its own process.
    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "out",
        methods=["loads_weights", "my_lowres_ridge:default"],
        metrics=["pixcorr"],
        methods_dir=methods_dir,
        references=False,
        leaderboard=False,
    )
    rows = summary.rows
    assert (rows["status"] == "ok").all()
    by_method = {m: set(rows.loc[rows["method"] == m, "weights"]) for m in ("loads_weights", "my_lowres_ridge")}
    assert by_method["my_lowres_ridge"] == {"{}"}
    assert [json.loads(w) for w in by_method["loads_weights"]] == [{"alexnet": _sha256(weights_cache / "weights" / "alexnet.pt")}]
    record = json.loads(next((tmp_path / "out" / "cells").glob(f"{rows.loc[rows['method'] == 'loads_weights', 'cell_key'].iloc[0]}.json")).read_text())
    for key in ("cell_seconds", "method_process_seconds", "method_startup_seconds", "isolation_overhead_seconds"):
        assert record[key] is not None and record[key] >= 0, (key, record[key])
    assert record["method_process_seconds"] >= record["fit_seconds"] + record["reconstruct_seconds"]
    assert record["cell_seconds"] >= record["method_process_seconds"]


def test_a_loaded_split_is_one_file_mapped_by_every_process_of_the_run(tiny_data_dir, methods_dir, tmp_path) -> None:
    """-j 2: two cells of one subject on two workers; both method processes map their training
    images from the same file of the run's split folder (named with this process's pid), read-only."""
    from reconbench.bench.runner import run_benchmark
    from reconbench.bench.shared_split import splits_folder

    summary = run_benchmark(
        "simulated:tiny",
        tiny_data_dir,
        tmp_path / "out",
        methods=["reports_mapping"],
        metrics=["pixcorr"],
        methods_dir=methods_dir,
        references=False,
        leaderboard=False,
        jobs=2,
    )
    assert (summary.rows["status"] == "ok").all()
    logs = [json.loads(p.read_text())["stage_log"][0] for p in sorted((tmp_path / "out" / "cells").glob("*.json"))]
    assert len(logs) == 2
    assert logs[0]["server"] != logs[1]["server"]  # two workers, each with its own method-process server
    mappings = [log["mapping"] for log in logs]
    assert mappings[0] is not None and mappings[0] == mappings[1] and mappings[0]["inode"] != 0
    assert mappings[0]["path"].startswith(str(splits_folder(os.getpid())) + "/") and mappings[0]["path"].endswith(".inputs")
    assert not any(log["writeable"] for log in logs)
    assert not splits_folder(os.getpid()).exists()  # removed when the workers were done


def test_the_shared_split_equals_a_fresh_load_and_keeps_the_test_images_apart(tiny_data_dir) -> None:
    import numpy as np

    from reconbench.bench.shared_split import load_shared, remove_splits_folder, splits_folder
    from reconbench.datasets.splits import load_split

    fresh = load_split(tiny_data_dir, "sub-01", progress=False)
    shared = load_shared(("test", str(tiny_data_dir)), os.getpid(), lambda: load_split(tiny_data_dir, "sub-01", progress=False))
    for name, value in vars(fresh.train).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(shared.train, name), value)
            assert not getattr(shared.train, name).flags.writeable
    for roi, x in fresh.train.fmri.items():
        np.testing.assert_array_equal(shared.train.fmri[roi], x)
    for test_set, (ids, images) in fresh.test_images.items():
        np.testing.assert_array_equal(shared.test_images[test_set][0], ids)
        np.testing.assert_array_equal(shared.test_images[test_set][1], images)
        np.testing.assert_array_equal(shared.test_inputs[test_set].fmri["VC"], fresh.test_inputs[test_set].fmri["VC"])
    files = sorted(p.suffix for p in splits_folder(os.getpid()).iterdir() if not p.name.endswith(".lock"))
    assert files == [".inputs", ".truth"]  # the file a method process gets a descriptor of holds no test image
    truth = next(splits_folder(os.getpid()).glob("*.inputs")).read_bytes()
    sample = np.ascontiguousarray(fresh.test_images["natural"][1][0]).tobytes()[:4096]
    assert sample not in truth
    remove_splits_folder()


def test_extra_images_are_writable_in_the_method_process_and_private_to_it(methods_dir, tiny_split) -> None:
    extra = tiny_split.train.extra_images
    assert extra is not None and not extra.flags.writeable
    original = float(extra[0, 0, 0, 0])
    for _ in range(2):  # the second cell sees the data unchanged by the first
        log = _run("writes_extra", methods_dir, tiny_split).stage_log[0]
        assert log["writeable"] and not log["images_writeable"]
        assert log["before"] == original and log["after"] == 0.25
        assert log["sum_rest"] == float(extra[1:].sum())
    assert float(extra[0, 0, 0, 0]) == original  # the parent's (shared) copy is untouched


def test_a_shared_split_file_is_read_with_an_allow_list(tmp_path) -> None:
    """A split file that would build anything but a Split of arrays is refused (the reader never runs pickle.loads)."""
    import os
    import pickle

    from reconbench.bench import shared_split

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    good = tmp_path / "good.split"
    shared_split._write({"x": np.arange(6.0)}, good)
    assert np.array_equal(shared_split._open(good)["x"], np.arange(6.0))
    bad = tmp_path / "bad.split"
    shared_split._write(Evil(), bad)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to unpickle global posix\.system in shared split file .*bad\.split"):
        shared_split._open(bad)
