"""The parent's side of a method process (issue 26): no terminal and captured output, every frame
checked under the cell's deadline, every process a method starts ended with its cell, plugin-sized
work inside the cell's limits, and failures reported as themselves, one row per test set.

The plugins are in ``tests/data/sandbox_server``; most tests drive :func:`reconbench.bench.sandbox.run_method`
directly (one method-process server serves them all), one runs the command line end to end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reconbench.bench import sandbox
from reconbench.bench.landlock import abi_version
from reconbench.core.errors import ReconbenchError
from tests.bench.method_requests import method_request
from tests.bench.terminal import stdout_on_a_terminal

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "sandbox_server"
CLI = [sys.executable, "-c", "from reconbench.cli import main; main()"]
SIZE = 32  # the evaluation size handed to the method process in these tests


@pytest.fixture(scope="module")
def methods_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lifecycle") / "methods"
    shutil.copytree(FIXTURES, folder)
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    return folder


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.bench.cell import _load_split_cached

    return _load_split_cached(str(tiny_data_dir), "sub-01", None)


def _run(stem: str, methods_dir: Path, split, params: dict | None = None, timeout: float = 120, memory_mb: float | None = None):
    request = method_request(stem, methods_dir, params=params, size=SIZE)
    start = time.monotonic()
    outcome = sandbox.run_method(request, split.train, dict(split.test_inputs), timeout=timeout, memory_mb=memory_mb)
    return outcome, time.monotonic() - start


def _errors(outcome) -> dict[str, str]:
    return {"fit": outcome.fit.error} | {name: result.error for name, result in outcome.test_sets.items()}


# --- 1. no terminal; stdout and stderr captured per cell, size-capped ----------------------------


def test_the_method_process_has_no_terminal_even_when_the_harness_has_one(methods_dir, tiny_split) -> None:
    """The harness's stdout and stderr are a terminal (a pty): the method process holds no descriptor
    of it (no TIOCSTI push possible), cannot open /dev/tty, reads stdin from /dev/null, and what it
    prints (a forged summary line) is kept in its cell's output, never shown on the terminal."""
    sandbox.shutdown()  # a fresh method-process server, started with the terminal as its stdout and stderr
    try:
        with stdout_on_a_terminal() as terminal:
            outcome, _ = _run("probes_terminal", methods_dir, tiny_split)
    finally:
        sandbox.shutdown()
    shown = terminal[0]
    assert not outcome.fit.error, outcome.fit.traceback
    (probe,) = outcome.stage_log
    assert probe["ttys"] == [] and probe["pushed"] == [] and probe["dev_tty"] is False, probe
    assert probe["stdin"] == "/dev/null"
    assert b"30 cells: 30 run" in outcome.output and b"30 cells" not in shown


def test_a_73_mb_flood_is_kept_capped_with_a_marker(methods_dir, tiny_split) -> None:
    outcome, _ = _run("floods_output", methods_dir, tiny_split)
    assert not any(_errors(outcome).values()), _errors(outcome)
    assert outcome.output_bytes > 73 * 2**20 and outcome.output_truncated
    assert len(outcome.output) <= sandbox.OUTPUT_HEAD + sandbox.OUTPUT_TAIL + 500
    assert outcome.output.startswith(b"FLOOD-START\n") and outcome.output.rstrip().endswith(b"FLOOD-END")
    assert b"bytes of the method's output dropped here" in outcome.output


# --- 2. frames: type, schema, size, order, deadline; sealing is the harness's knowledge -------------


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("fit-garbage", "a message that is not JSON"),
        ("fit-list", "a message of unknown type 'list'"),
        ("fit-unknown", "a message of unknown type 'summary'"),
        ("fit-huge", "over the limit of"),
        ("fit-seconds", "field 'seconds' of a 'fit' message"),
    ],
)
def test_a_malformed_frame_fails_its_cell_at_once(methods_dir, tiny_split, mode, expected) -> None:
    outcome, seconds = _run("forges_frames", methods_dir, tiny_split, {"mode": mode}, timeout=60)
    assert outcome.fit.error.startswith("MethodProcessError: malformed message from the method process"), outcome.fit.error
    assert expected in outcome.fit.error and "during fit" in outcome.fit.error
    assert seconds < 30  # not the cell's timeout: the frame is refused when it is read


def test_a_huge_frame_is_refused_before_it_is_read_under_cell_memory(methods_dir, tiny_split) -> None:
    outcome, _ = _run("forges_frames", methods_dir, tiny_split, {"mode": "fit-huge"}, memory_mb=3000)
    assert f"over the limit of {16 << 20} bytes" in outcome.fit.error
    assert outcome.peak_memory_mb < 3000


def test_a_bad_frame_in_one_test_set_fails_it_and_leaves_a_row_for_each_later_one(methods_dir, tiny_split) -> None:
    outcome, _ = _run("forges_frames", methods_dir, tiny_split, {"mode": "reconstruct-unknown"}, timeout=60)
    first, *later = list(tiny_split.test_inputs)
    assert not outcome.fit.error
    assert "malformed message" in outcome.test_sets[first].error and f"during reconstruct {first}" in outcome.test_sets[first].error
    for name in later:
        assert outcome.test_sets[name].error.startswith("MethodProcessError: not run: the method process was stopped during reconstruct")


def _warm_server() -> None:
    """A started method-process server (its start-up, seconds on a busy machine, counts against a cell's timeout)."""
    sandbox.prestart()
    zygote = sandbox._acquire_zygote(())
    zygote.wait_ready(300)
    sandbox._release_zygote(zygote)


def test_half_a_frame_then_sleep_ends_at_the_cell_timeout(methods_dir, tiny_split) -> None:
    _warm_server()
    outcome, seconds = _run("forges_frames", methods_dir, tiny_split, {"mode": "fit-half"}, timeout=5)
    assert "timeout: the cell ran past --cell-timeout 5 s" in outcome.fit.error
    assert seconds < 25


def test_a_forged_ready_frame_changes_no_seal_record(methods_dir, tiny_split) -> None:
    outcome, _ = _run("forges_frames", methods_dir, tiny_split, {"mode": "fit-ready-unsealed"}, timeout=60)
    assert outcome.started and outcome.sealed == (abi_version() > 0)  # what the harness's own first message said
    assert outcome.seal_note != "forged"
    assert "a second 'ready' message" in outcome.fit.error


def test_a_cell_that_never_reached_its_seal_is_not_called_unsealed(tiny_data_dir) -> None:
    """A method process stopped before its first message (no method code ran) leaves sealed = "", not
    "no": the run does not claim the cell ran without filesystem sealing."""
    import dataclasses

    from reconbench.bench.cell import run_cell
    from reconbench.bench.evaluator import default_metrics
    from reconbench.bench.grid import build_cells
    from reconbench.bench.options import RunOptions
    from reconbench.bench.registry import discover_methods
    from reconbench.datasets.catalog import get_dataset

    folder = get_dataset("simulated:tiny").open(tiny_data_dir)
    (spec,) = build_cells(folder, ["sub-01"], discover_methods(), [("mean_image", None)], default_metrics(["pixcorr"]), RunOptions(references=False))
    sandbox.shutdown()  # a cold server: its start-up alone outlasts the limit
    result = run_cell(dataclasses.replace(spec, cell_timeout=1e-9))
    assert result.record["status"] == "failed" and result.record["sealed"] == ""
    assert "ended before it was ready" in result.record["seal_note"]
    assert set(result.rows["sealed"]) == {""}


# --- 3. every process a method starts dies with its cell --------------------------------------------


def _named(tag: str) -> list[int]:
    """Live processes (not zombies) named ``tag``."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == tag and (comm.parent / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(comm.parent.name))
        except (OSError, IndexError):
            continue
    return found


@pytest.mark.parametrize("mode", ["finish", "exit"])
def test_a_double_forked_daemon_dies_with_its_cell(methods_dir, tiny_split, mode) -> None:
    """The daemon (its own session, its parent gone) holds the reply pipe: a later exit is still
    reported as that exit at once, not as a timeout, and no process of the cell outlives it."""
    tag = f"rbd-{secrets.token_hex(4)}"
    try:
        outcome, seconds = _run("starts_daemon", methods_dir, tiny_split, {"tag": tag, "mode": mode}, timeout=40)
        assert not outcome.fit.error, outcome.fit.error
        first = next(iter(tiny_split.test_inputs))
        if mode == "exit":
            assert "exited with status 0" in outcome.test_sets[first].error and seconds < 30, (outcome.test_sets[first].error, seconds)
        else:
            assert not any(_errors(outcome).values()), _errors(outcome)
        assert _named(tag) == []
    finally:
        for pid in _named(tag):  # only if the test failed: end the daemon it started
            os.kill(pid, 9)


def test_a_daemon_does_not_outlive_a_killed_run(tiny_data_dir, methods_dir, tmp_path) -> None:
    """The run is SIGKILLed while its method process sleeps beside its daemon: the method-process
    server (its death signal is SIGTERM, handled) kills every process its cells started, then exits."""
    tag = f"rbd-{secrets.token_hex(4)}"
    run = subprocess.Popen(
        CLI
        + ["run", "--dataset", "simulated:tiny", "--data", str(tiny_data_dir), "--out", str(tmp_path / "out")]
        + ["--methods-dir", str(methods_dir), "--methods", "starts_daemon", "--metrics", "pixcorr", "--no-leaderboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, RECONBENCH_TEST_DAEMON=f"{tag}:hang"),
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not _named(tag) and run.poll() is None:
            time.sleep(0.5)
        assert _named(tag), "the daemon never started"
        time.sleep(1)
        os.kill(run.pid, 9)
        run.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _named(tag):
            time.sleep(0.2)
        assert _named(tag) == []
    finally:
        if run.poll() is None:
            run.kill()
        for pid in _named(tag):  # only if the test failed: end the daemon it started
            os.kill(pid, 9)


def test_no_descriptor_of_the_results_lock_reaches_a_method_process(tiny_data_dir, methods_dir, tmp_path) -> None:
    """A daemon a method starts holds what its method process held: never the run's lock on --out (nor
    any other file of the results folder), so no process a plugin leaves can keep the folder busy."""
    from reconbench.bench.runner import run_benchmark

    out = tmp_path / "out"
    summary = run_benchmark(
        "simulated:tiny", tiny_data_dir, out, methods=["lists_descriptors"], metrics=["pixcorr"], methods_dir=methods_dir, references=False, leaderboard=False
    )
    assert (summary.rows["status"] == "ok").all()
    (record,) = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    (log,) = record["stage_log"]
    held = {tuple(pair) for pair in log["held"]}
    assert len(held) >= 3  # it saw its own descriptors (stdin, the output and reply pipes)
    results_files = {(p.stat().st_dev, p.stat().st_ino) for p in out.rglob("*") if p.is_file()}
    assert (out / ".lock").is_file() and not held & results_files


# --- 4. work sized by a plugin runs inside the cell's limits ---------------------------------------------


def test_large_outputs_are_resized_in_the_method_process(methods_dir, tiny_split) -> None:
    outcome, _ = _run("raises_in_stages", methods_dir, tiny_split, {"mode": "large"})
    for name, result in outcome.test_sets.items():
        assert not result.error, result.error
        assert result.predictions.shape == (len(tiny_split.test_inputs[name].stimulus_ids), 3, SIZE, SIZE)


def test_a_large_stage_space_is_refused_before_any_work(tiny_split) -> None:
    from reconbench.bench.diagnostics import stage_diagnostics

    _, images = next(iter(tiny_split.test_images.values()))
    images = np.asarray(images)
    space = {"kind": "shape_map", "size": 3000, "blur_sigma": 1.0, "shape_kind": "blur"}
    start = time.monotonic()
    with pytest.raises(ReconbenchError, match="do not fit the decoded output"):
        stage_diagnostics({"shape_map": np.zeros((len(images), 4), np.float32)}, {"shape_map": space}, images, {}, SIZE)
    assert time.monotonic() - start < 1.0


# --- 5. failures as themselves; outputs refused, not silently changed -----------------------------------


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("base", "Interrupted: stopped on purpose"),  # a BaseException that is not an Exception
        ("unprintable", "Unprintable: <unprintable Unprintable>"),
        ("complex", "returned complex values (dtype complex64)"),
        ("wide", "returned 8 x 16 images (height x width), expected square images"),
    ],
)
def test_a_method_failure_is_reported_as_itself(methods_dir, tiny_split, mode, expected) -> None:
    outcome, _ = _run("raises_in_stages", methods_dir, tiny_split, {"mode": mode})
    first = next(iter(tiny_split.test_inputs))
    assert expected in outcome.test_sets[first].error, outcome.test_sets[first].error
    assert "exited with status" not in outcome.test_sets[first].error


def test_an_exit_in_reconstruct_leaves_a_failed_result_for_every_test_set(methods_dir, tiny_split) -> None:
    outcome, _ = _run("raises_in_stages", methods_dir, tiny_split, {"mode": "exit"})
    first, *later = list(tiny_split.test_inputs)
    assert "exited with status 7" in outcome.test_sets[first].error
    assert later and all(outcome.test_sets[name].error.startswith("MethodProcessError: not run") for name in later)


@pytest.mark.parametrize(
    "timeout, memory",
    [("nan", None), ("inf", None), ("1e-9", None), ("-1", None), ("0.5", None), (None, "nan"), (None, "inf"), (None, "0"), (None, "-5")],
)
def test_cell_limits_that_are_not_a_limit_are_refused(timeout, memory) -> None:
    from reconbench.bench.options import RunOptions

    with pytest.raises(ReconbenchError, match=r"^--cell-(timeout|memory) "):
        RunOptions(cell_timeout=None if timeout is None else float(timeout), cell_memory_mb=None if memory is None else float(memory)).checked()


def test_cell_limits_that_are_a_limit_pass() -> None:
    from reconbench.bench.options import RunOptions

    for timeout, memory in [(None, None), (0, None), (0.0, 1.0), (1, 100), (600.0, 1500.0)]:
        RunOptions(cell_timeout=timeout, cell_memory_mb=memory).checked()


def test_the_command_line_says_in_one_line_what_is_wrong_with_a_limit(tiny_data_dir, tmp_path) -> None:
    for option in (["--cell-timeout", "nan"], ["--cell-memory", "nan"]):
        done = subprocess.run(
            CLI + ["run", "--dataset", "simulated:tiny", "--data", str(tiny_data_dir), "--out", str(tmp_path / "out"), "--methods", "mean_image", *option],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]] and done.stderr.startswith(f"error: {option[0]} nan")
        assert not (tmp_path / "out" / "cells").exists()


# --- end to end: bad plugins beside an honest one ---------------------------------------------------------


def test_a_run_with_bad_plugins_ends_with_their_cells_failed_and_the_leaderboard_written(tiny_data_dir, methods_dir, tmp_path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        CLI
        + [
            "run",
            "--dataset",
            "simulated:tiny",
            "--data",
            str(tiny_data_dir),
            "--out",
            str(out),
            "--methods-dir",
            str(methods_dir),
            "--methods",
            "forges_frames,raises_in_stages,probes_terminal,large_stage_space,my_lowres_ridge",
            "--metrics",
            "pixcorr",
            "--cell-timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "leaderboard" / "leaderboard.md").is_file()
    from reconbench.store.results import load_results

    rows = load_results(out)
    test_sets = sorted(set(rows.loc[rows["method"] == "my_lowres_ridge", "test_set"]))
    assert (rows.loc[rows["method"] == "my_lowres_ridge", "status"] == "ok").all()
    forged = rows[rows["method"] == "forges_frames"]
    assert len(forged) == 1 and "malformed message" in forged["error"].iloc[0]
    exits = rows[rows["method"] == "raises_in_stages"]
    assert sorted(exits["test_set"]) == test_sets and (exits["status"] == "failed").all()  # a row for every test set
    # The method's stdout went into its cell's output file, not to the command's output.
    assert "30 cells: 30 run" not in done.stdout + done.stderr
    (record,) = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json") if json.loads(p.read_text())["spec"]["method"] == "probes_terminal"]
    assert record["method_output"]["bytes"] > 0 and not record["method_output"]["truncated"]
    assert "30 cells: 30 run" in (out / record["method_output"]["path"]).read_text()
    # The stage space was refused before any work.
    (spaces,) = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json") if json.loads(p.read_text())["spec"]["method"] == "large_stage_space"]
    assert all("do not fit the decoded output" in entry["error"] for entry in spaces["stage_diagnostics"].values()), spaces["stage_diagnostics"]
