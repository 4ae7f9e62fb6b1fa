"""Executors: serial and local processes give the same results, in any order of completion."""

from __future__ import annotations

import pytest

from reconbench.bench.executors import execute
from reconbench.core.errors import ReconbenchError


def square(spec: int, report=None) -> int:
    """A module-level (picklable) worker that reports two stages."""
    if report is not None:
        report("compute", 0, 1)
        report("done", 1, 1)
    return spec * spec


def test_serial_and_processes_agree_and_report_events() -> None:
    events = []
    serial = dict(execute(square, [1, 2, 3], jobs=1, on_event=lambda *e: events.append(e)))
    assert serial == {1: 1, 2: 4, 3: 9}
    assert (0, "compute", 0, 1) in events and (2, "done", 1, 1) in events
    parallel = dict(execute(square, [1, 2, 3], jobs=2))
    assert parallel == serial


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ReconbenchError, match="at least 1"):
        execute(square, [1], jobs=0)
