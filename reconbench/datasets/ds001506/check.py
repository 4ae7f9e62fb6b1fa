"""``reconbench data check`` (moved to :mod:`reconbench.datasets.check`, which reads every layout)."""

from __future__ import annotations

from reconbench.datasets.check import check_data  # noqa: F401 - the old import path keeps working
