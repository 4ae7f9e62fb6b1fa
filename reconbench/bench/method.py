"""Deprecated alias of :mod:`reconbench.core.method` (moved in 0.2; this alias goes in the next release).

Third-party methods that import from ``reconbench.bench.method`` keep working and
see a ``DeprecationWarning`` naming the new path.
"""

import warnings

from reconbench.core.method import Method, NotFittedError, params_hash  # noqa: F401 - re-exported

__all__ = ["Method", "NotFittedError", "params_hash"]

warnings.warn(
    "reconbench.bench.method is deprecated; import from reconbench.core.method instead",
    DeprecationWarning,
    stacklevel=2,
)
