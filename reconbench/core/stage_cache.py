"""A small content-addressed cache for the stages of a method.

A *stage* (a fitted decoder, a trained generator, ...) is stored under a key
that is the sha256 of a canonical JSON text of the stage's name, its parameters
and the hashes of its input arrays. Two fits that share a stage (for example two
ablations that differ only in how semantics are decoded) therefore compute the
shared stage once. A stage result is a flat mapping of names to numpy arrays
plus a small JSON-able ``meta`` dict, written atomically as one ``.npz`` file
(no pickles: loading never executes code).

Where the cache lives: ``$RECONBENCH_STAGE_CACHE`` if set (the value ``off``
disables caching), else ``reconbench.bench.paths.cache_dir() / "stages"``.
The cache only ever skips work: a missing, unreadable or corrupt entry is
recomputed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from reconbench.bench.atomic import atomic_path
from reconbench.bench.errors import ReconbenchError
from reconbench.bench.paths import cache_dir

STAGE_CACHE_ENV = "RECONBENCH_STAGE_CACHE"
_META_KEY = "__meta__"


def array_hash(array: np.ndarray) -> str:
    """Return the sha256 (hex) of an array's dtype, shape and C-ordered bytes.

    Parameters
    ----------
    array : array_like, any shape
        Numeric or boolean array; string arrays are hashed through their UTF-8 text.
    """
    array = np.asarray(array)
    digest = hashlib.sha256()
    if array.dtype.kind in "US":
        # Unicode arrays: hash the text, so the same ids with a different max length agree.
        digest.update(b"str")
        digest.update(repr(array.shape).encode())
        for item in array.ravel().tolist():
            text = item.decode() if isinstance(item, bytes) else str(item)
            digest.update(len(text).to_bytes(8, "little"))
            digest.update(text.encode("utf-8"))
        return digest.hexdigest()
    if array.dtype.kind == "O":
        raise ReconbenchError(f"cannot hash an object array of shape {array.shape}: convert it to a numeric or string array")
    array = np.ascontiguousarray(array)
    digest.update(array.dtype.str.encode())
    digest.update(repr(array.shape).encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """Return a canonical JSON text of ``value`` (sorted keys, no spaces).

    Accepts dicts with string keys, lists/tuples, str, bool, int, finite float,
    None and numpy scalars. Anything else raises ``TypeError``: a ``repr``
    fallback could differ between runs and silently split the cache.
    """

    def convert(v: Any) -> Any:
        if isinstance(v, Mapping):
            out = {}
            for k, item in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"cache key parameters must have string keys, found {k!r}")
                out[k] = convert(item)
            return out
        if isinstance(v, (list, tuple)):
            return [convert(item) for item in v]
        if isinstance(v, np.generic):
            return convert(v.item())
        if isinstance(v, float):
            if not math.isfinite(v):
                raise TypeError(f"cache key parameters must be finite, found {v!r}")
            return v
        if v is None or isinstance(v, (str, bool, int)):
            return v
        raise TypeError(f"cannot put {type(v).__name__} {v!r} in a cache key; use str, int, float, bool, None, list or dict")

    return json.dumps(convert(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def stage_key(stage: str, params: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> str:
    """Return the cache key of a stage.

    Parameters
    ----------
    stage : str
        Stage name, e.g. ``"shape_decoder"``; also the sub-folder of the entry.
    params : mapping
        Everything that changes the stage's result (JSON-able, see :func:`canonical_json`).
        Include a version number that is bumped when the stage's code changes.
    inputs : mapping of str to ndarray or str, optional
        Input arrays (hashed with :func:`array_hash`) or already computed hashes /
        keys of upstream stages (strings are used as they are).

    Returns
    -------
    str
        64 hex characters.
    """
    input_hashes = {}
    for name, value in (inputs or {}).items():
        input_hashes[name] = value if isinstance(value, str) else array_hash(value)
    text = canonical_json({"stage": stage, "params": dict(params), "inputs": input_hashes})
    return hashlib.sha256(text.encode()).hexdigest()


class StageCache:
    """Content-addressed store of stage results.

    Parameters
    ----------
    root : path or None
        Folder of the cache. ``None`` disables caching (every lookup misses and
        nothing is written).

    Attributes
    ----------
    hits, misses : list of (stage, key)
        Lookups of this instance, in order; useful in tests and logs.
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = None if root is None else Path(root)
        self.hits: list[tuple[str, str]] = []
        self.misses: list[tuple[str, str]] = []

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def path(self, stage: str, key: str) -> Path:
        """Return the file of an entry: ``root/stage/key[:2]/key.npz``."""
        if self.root is None:
            raise ReconbenchError("the stage cache is disabled; there is no entry path")
        if not stage.replace("_", "").replace("-", "").isalnum():
            raise ReconbenchError(f"stage name {stage!r} must be alphanumeric (with _ or -)")
        return self.root / stage / key[:2] / f"{key}.npz"

    def load(self, stage: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Return ``(arrays, meta)`` of an entry, or ``None`` if it is absent or unreadable."""
        if self.root is None:
            return None
        path = self.path(stage, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files if name != _META_KEY}
                meta = json.loads(str(data[_META_KEY])) if _META_KEY in data.files else {}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
            # A corrupt entry is only lost work: recompute it.
            return None
        return arrays, meta

    def save(self, stage: str, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
        """Write an entry atomically (a reader sees the old entry or the complete new one)."""
        if self.root is None:
            return
        if _META_KEY in arrays:
            raise ReconbenchError(f"array name {_META_KEY!r} is reserved in stage {stage!r}")
        payload = {name: np.asarray(value) for name, value in arrays.items()}
        for name, value in payload.items():
            if value.dtype.kind == "O":
                raise ReconbenchError(f"stage {stage!r}: array {name!r} has dtype object; only numeric/str arrays are cached")
        payload[_META_KEY] = np.array(canonical_json(dict(meta or {})))
        with atomic_path(self.path(stage, key), suffix=".npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **payload)

    def get_or_compute(
        self,
        stage: str,
        key: str,
        compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]],
    ) -> tuple[dict[str, np.ndarray], dict[str, Any], bool]:
        """Return ``(arrays, meta, hit)``: the cached entry, or ``compute()``'s result (then stored)."""
        found = self.load(stage, key)
        if found is not None:
            self.hits.append((stage, key))
            return found[0], found[1], True
        self.misses.append((stage, key))
        arrays, meta = compute()
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        meta = dict(meta)
        self.save(stage, key, arrays, meta)
        return arrays, meta, False


def default_stage_cache() -> StageCache:
    """Return the cache at ``$RECONBENCH_STAGE_CACHE`` (``off`` disables) or ``cache_dir()/stages``."""
    env = os.environ.get(STAGE_CACHE_ENV)
    if env is not None and env.strip().lower() in {"off", "0", "none", "false", "no"}:
        return StageCache(None)
    if env:
        return StageCache(Path(env).expanduser())
    return StageCache(cache_dir() / "stages")
