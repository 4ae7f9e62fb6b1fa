"""A second run into a results folder that a run is writing stops with one line naming the first.

Written against the command line only (two real processes), so it runs on the code from
before the lock too (issue 17, finding 4), and fails there: the second run does not stop,
it goes ahead and computes its cells into the folder the first run is writing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

METHODS = Path(__file__).parent / "data" / "lock_methods"


def _run(data: Path, out: Path, cwd: Path, methods: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reconbench",
        "run",
        "--dataset",
        "simulated:tiny",
        "--data",
        str(data),
        "--out",
        str(out),
        "--threads",
        "1",
        "--no-leaderboard",
        "--metrics",
        "pixcorr",
        "--methods-dir",
        str(METHODS),
        "--methods",
        ",".join(methods),
    ]


@pytest.mark.slow
def test_a_second_run_into_a_busy_folder_stops_naming_the_first(tiny_data_dir, tmp_path) -> None:
    out = tmp_path / "out"
    first = subprocess.Popen(_run(tiny_data_dir, out, tmp_path, ["slow_mean"]), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The lock makes the folder before any data is loaded; then the first run is still inside its 25-s cell.
        started = time.monotonic()
        while not out.exists() and first.poll() is None and time.monotonic() - started < 120:
            time.sleep(0.2)
        time.sleep(3)
        assert first.poll() is None, "the first run ended before the second started; the test cannot overlap them"
        second = subprocess.run(_run(tiny_data_dir, out, tmp_path, ["mean_image"]), cwd=tmp_path, capture_output=True, text=True, timeout=300)
        still_running = first.poll() is None
    finally:
        first_out, first_err = first.communicate(timeout=600)
    assert still_running, "the second run waited for the first instead of stopping"
    assert second.returncode == 2, f"second run exit {second.returncode}; stderr: {second.stderr[-500:]}"
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"pid {first.pid}" in lines[0] and str(out) in lines[0]
    assert first.returncode == 0, first_err[-500:]
    # Released: the same second run now goes ahead.
    again = subprocess.run(_run(tiny_data_dir, out, tmp_path, ["mean_image"]), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-500:]
