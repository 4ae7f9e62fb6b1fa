"""The one hasher: canonical JSON, sha256 of text, files and arrays.

Every hash the suite records (params hashes, cell keys, config hashes, split
manifests, stage-cache keys, weight manifests) goes through these functions, so
one change of canonical form cannot split them apart. The bytes each caller
hashes are part of what committed results mean; callers pick the options that
reproduce their historical form (see each caller's comment) and must not
change them without a format bump.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any, Mapping

import numpy as np

from reconbench.core.errors import ReconbenchError

#: ``json.dumps`` separators of the compact canonical form (no spaces).
COMPACT = (",", ":")
#: ``json.dumps``'s default separators; the params hash was defined with them.
SPACED = (", ", ": ")


def _strict(value: Any) -> Any:
    """``value`` with numpy scalars unwrapped; raise TypeError on anything a
    ``repr`` fallback could render differently between runs."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"cache key parameters must have string keys, found {key!r}")
            out[key] = _strict(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    if isinstance(value, np.generic):
        return _strict(value.item())
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cache key parameters must be finite, found {value!r}")
        return value
    if value is None or isinstance(value, (str, bool, int)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} {value!r} in a cache key; use str, int, float, bool, None, list or dict")


def canonical_json(value: Any, *, strict: bool = True, separators: tuple[str, str] = COMPACT) -> str:
    """Return the canonical JSON text of ``value``: keys sorted.

    Parameters
    ----------
    value : JSON-able
    strict : bool
        True: only dicts with string keys, lists/tuples, str, bool, int, finite
        float, None and numpy scalars; anything else raises ``TypeError`` and
        NaN is refused. False: ``json.dumps`` with ``default=repr``.
    separators : (str, str)
        :data:`COMPACT` (default) or :data:`SPACED`.
    """
    if strict:
        return json.dumps(_strict(value), sort_keys=True, separators=separators, allow_nan=False)
    return json.dumps(value, sort_keys=True, default=repr, separators=separators)


def sha256_text(text: str, length: int | None = None) -> str:
    """Hex sha256 of ``text`` (UTF-8), cut to ``length`` characters if given."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return digest if length is None else digest[:length]


def json_hash(value: Any, length: int | None = None, *, strict: bool = False, separators: tuple[str, str] = COMPACT) -> str:
    """Hex sha256 of :func:`canonical_json` of ``value`` (``default=repr`` unless ``strict``)."""
    return sha256_text(canonical_json(value, strict=strict, separators=separators), length)


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short sha256 of the compact canonical JSON of ``obj`` (keys sorted, ``default=repr``).

    The form of cell keys, config hashes and data fingerprints.
    """
    return json_hash(obj, length, strict=False)


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks. Raises ``OSError`` when unreadable."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def array_hash(array: np.ndarray) -> str:
    """Return the sha256 (hex) of an array's dtype, shape and C-ordered bytes.

    Parameters
    ----------
    array : array_like, any shape
        Numeric or boolean array; string arrays are hashed through their UTF-8 text.
        Object arrays raise :class:`ReconbenchError`.
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
