"""``python -m reconbench`` is the command line."""

from __future__ import annotations

import os
import subprocess
import sys


def test_python_m_reconbench_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "reconbench", "--help"], capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for command in ("simulate", "data", "weights", "list", "run", "leaderboard", "bench", "compare", "contrast"):
        assert command in result.stdout
    bad = subprocess.run([sys.executable, "-m", "reconbench", "no-such-command"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
