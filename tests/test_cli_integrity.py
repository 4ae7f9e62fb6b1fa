"""Store integrity as a user meets it (issue 17, findings 5, 8 and 9), through the command line
and ``run_benchmark``.

These tests use only what existed before the issue-17 work (the ``reconbench`` commands,
``run_benchmark``, ``RunSummary``'s original fields, ``reconbench.core.atomic``), so the same
tests show the behaviour before (they fail) and after (they pass)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

#: What an interrupted atomic write leaves: ``.NAME.<random>.tmp`` (files) or ``.NAME.old`` (folders).
LEFTOVER = re.compile(r"^\..+\.tmp$|^\..+\.old$")

KILLED_WRITE = textwrap.dedent("""
    import os, signal, sys
    from reconbench.core import atomic

    def killed(src, dst, *args, **kwargs):  # SIGKILL once the new file is complete, before it replaces the old
        os.kill(os.getpid(), signal.SIGKILL)

    os.replace = killed
    atomic.write_text(sys.argv[1], "half of a cell record")
""")


def test_a_rerun_removes_what_killed_writes_left(tiny_data_dir, tmp_path) -> None:
    """Finding 5: files left by writes killed before their rename stayed for good."""
    from reconbench.bench.runner import run_benchmark

    out = tmp_path / "results"
    run_benchmark("simulated:tiny", tiny_data_dir, out, methods=["mean_image"], metrics=["pixcorr"], leaderboard=False)
    for target in (out / "cells" / "0123456789abcdef.json", out / "results.csv"):
        done = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], capture_output=True, text=True)
        assert done.returncode == -signal.SIGKILL, done.stderr
    left = [p for p in out.rglob("*") if LEFTOVER.match(p.name)]
    assert len(left) == 2
    rows_before = pd.read_parquet(out / "results.parquet")

    summary = run_benchmark("simulated:tiny", tiny_data_dir, out, methods=["mean_image"], metrics=["pixcorr"], leaderboard=False)
    assert summary.n_run == 0
    assert [p for p in out.rglob("*") if LEFTOVER.match(p.name)] == []
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), rows_before)


def test_run_summary_prints_bracketed_names_literally(capsys) -> None:
    """Finding 8: rich read [default] and [mixed_training] as markup, so two failures printed as one name."""
    from reconbench.bench.runner import RunSummary, print_summary

    summary = RunSummary(
        out=Path("out"),
        n_cells=2,
        n_run=2,
        n_skipped=0,
        n_failed=2,
        n_failed_total=2,
        seconds=1.0,
        rows=pd.DataFrame(),
        failures=[("divide_and_conquer[default] sub-01 seed 0", "ValueError: x"), ("divide_and_conquer[mixed_training] sub-01 seed 0", "ValueError: y")],
    )
    print_summary(summary)
    err = capsys.readouterr().err
    assert "divide_and_conquer[default] sub-01 seed 0: ValueError: x" in err
    assert "divide_and_conquer[mixed_training] sub-01 seed 0: ValueError: y" in err


def _pid_namespace_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "--pid", "--fork", sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == "1"


@pytest.mark.skipif(not _pid_namespace_available(), reason="needs 'unshare --pid' (a new PID namespace) to run a command as PID 1")
def test_sigterm_ends_a_command_running_as_pid_1(tmp_path) -> None:
    """Finding 9: in a container without an init, reconbench is PID 1, and the kernel drops a
    signal PID 1 does not handle: 'docker stop' waited 10 s, then killed. Here the command runs
    as PID 1 of a new PID namespace, as in the container."""
    folder = tmp_path / "data"
    folder.mkdir()
    out = folder / "default"
    process = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "reconbench", "simulate", "--preset", "default", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # The simulator writes into a temporary sibling of the output folder, renamed when complete.
        while not any(folder.iterdir()) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the command ended before it could be signalled"
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 1  # the command, PID 1 inside the namespace
        started = time.monotonic()
        os.kill(int(children[0]), signal.SIGTERM)
        try:
            status = process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM was ignored: the command was still running 8 s later")
        assert time.monotonic() - started < 8
        assert status == 143, process.stderr.read()
        assert list(folder.iterdir()) == []  # the write under way was abandoned, nothing half-written stays
    finally:
        if process.poll() is None:
            process.kill()  # --kill-child: the command (PID 1 of the namespace) dies with unshare
            process.wait()
