"""Deprecated alias of :mod:`reconbench.core.types` (moved in 0.2; this alias goes in the next release).

Third-party methods that import from ``reconbench.bench.types`` keep working and
see a ``DeprecationWarning`` naming the new path.
"""

import warnings

from reconbench.core.types import ALL_ROIS, BASE_ROIS, ROI_UNIONS, TEST_SETS, Split, TestInput, TrainData  # noqa: F401 - re-exported

__all__ = ["ALL_ROIS", "BASE_ROIS", "ROI_UNIONS", "TEST_SETS", "Split", "TestInput", "TrainData"]

warnings.warn(
    "reconbench.bench.types is deprecated; import from reconbench.core.types instead",
    DeprecationWarning,
    stacklevel=2,
)
