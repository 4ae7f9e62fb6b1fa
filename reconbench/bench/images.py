"""Deprecated alias of :mod:`reconbench.core.images` (moved in 0.2; this alias goes in the next release).

Third-party methods that import from ``reconbench.bench.images`` keep working and
see a ``DeprecationWarning`` naming the new path.
"""

import warnings

from reconbench.core.images import read_image, resize  # noqa: F401 - re-exported

__all__ = ["read_image", "resize"]

warnings.warn(
    "reconbench.bench.images is deprecated; import from reconbench.core.images instead",
    DeprecationWarning,
    stacklevel=2,
)
