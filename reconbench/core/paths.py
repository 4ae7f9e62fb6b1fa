"""Where data, cache and results live.

Folders are resolved as: explicit argument, then environment variable, then a
default under the home folder (the nilearn convention). Nothing here creates a
folder at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "RECONBENCH_DATA"
CACHE_ENV = "RECONBENCH_CACHE"


def data_root(path: str | os.PathLike | None = None) -> Path:
    """Return the data root: ``path``, else ``$RECONBENCH_DATA``, else ``~/reconbench_data``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / "reconbench_data"


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: ``path``, else ``$RECONBENCH_CACHE``, else ``~/.cache/reconbench``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "reconbench"
