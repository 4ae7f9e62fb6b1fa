"""One synthetic result row for the leaderboard tests."""

from __future__ import annotations

import numpy as np


def result_row(**fields) -> dict:
    """One result row: the given columns over neutral values of the bookkeeping ones (times, hashes, versions)."""
    row = {
        "params_hash": f"h-{fields.get('method', 'm')}",
        "chance": np.nan,
        "kind": "method",
        "status": "ok",
        "error": "",
        "cell_key": "c",
        "config_hash": "c",
        "params": "{}",
        "code_version": "test",
        "package_versions": "{}",
        "fit_seconds": 1.0,
        "reconstruct_seconds": 1.0,
        "score_seconds": 1.0,
        "peak_memory_mb": 1.0,
    }
    row.update(fields)
    return row
