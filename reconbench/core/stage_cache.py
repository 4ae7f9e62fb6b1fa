"""A small content-addressed cache for the stages of a method.

A *stage* (a fitted decoder, a trained generator, ...) is stored under a key
that is the sha256 of a canonical JSON text of the stage's name, its parameters
and the hashes of its input arrays. Two fits that share a stage (for example two
ablations that differ only in how semantics are decoded) therefore compute the
shared stage once. A stage result is a flat mapping of names to numpy arrays
plus a small JSON-able ``meta`` dict, written atomically as one ``.npz`` file
(no pickles: loading never executes code).

Where the cache lives: ``$RECONBENCH_STAGE_CACHE`` if set (the value ``off``
disables caching), else ``reconbench.core.paths.cache_dir() / "stages"``.
The cache only ever skips work: a missing, unreadable or corrupt entry is
recomputed.

Integrity: every entry records its own stage, key and the sha256 of each of
its arrays (``__entry__``). An entry that does not verify (altered bytes, or a
valid entry copied or swapped under another key) is reported once on standard
error, moved to ``<root>/quarantine/`` and recomputed.

Who writes: only the harness. In a method process (:mod:`reconbench.bench.sandbox`)
:meth:`StageCache.save` hands the entry to the harness (:func:`hand_entries_to`), which
writes it only for a built-in method's cell; the method process may read the cache,
never write it (sealed), so a plugin cannot leave an entry a later built-in run trusts.
Entries carry ``"writer": "harness"`` in their integrity record; an entry without it (a method
process wrote it) is recomputed once.

Leftovers: a process killed while writing an entry leaves its temporary file
(``.KEY.npz.<random>.npz.tmp``, :mod:`reconbench.core.atomic`). Writers hold a
shared lock on ``<root>/.writers`` while they write; whoever gets that lock
exclusively knows no write is under way, and removes such leftovers: each save
in its entry's folder, :meth:`StageCache.remove_orphans` (called when a run
starts) in the whole cache. Many runs may share one cache; a temporary file of
a live writer is never removed.

Thread count: float reductions in torch and BLAS depend on how many threads
run them, so the key includes the torch thread count at the time of the
lookup (the harness sets it per cell): an entry filled at another thread count
is never reused, and a warm run equals a cold one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from reconbench.core.atomic import atomic_path, open_no_follow, remove_orphans
from reconbench.core.device import device_kind
from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import array_hash, canonical_json, sha256_text
from reconbench.core.paths import cache_dir

try:  # advisory locks; Linux and macOS (the container is Linux)
    import fcntl
except ImportError:  # pragma: no cover - Windows: leftovers are never removed
    fcntl = None  # type: ignore[assignment]

__all__ = ["STAGE_CACHE_ENV", "StageCache", "array_hash", "canonical_json", "default_stage_cache", "stage_key"]

STAGE_CACHE_ENV = "RECONBENCH_STAGE_CACHE"
#: Lock file in the cache root: shared by every writer while it writes, exclusive to remove leftovers.
WRITERS_LOCK = ".writers"
_META_KEY = "__meta__"
_ENTRY_KEY = "__entry__"


#: The integrity record's mark of an entry the harness wrote (older entries lack it and are recomputed).
WRITER = "harness"
#: In a method process: the callable :meth:`StageCache.save` hands each entry to, ``(stage, key, arrays, meta)``.
_handoff: Callable[[str, str, dict[str, np.ndarray], dict[str, Any]], None] | None = None
#: Entries this process handed over, by (root, stage, key): a later lookup here finds them, as it found the file.
_handed: dict[tuple[str, str, str], tuple[dict[str, np.ndarray], dict[str, Any]]] = {}


def hand_entries_to(callback: Callable[[str, str, dict[str, np.ndarray], dict[str, Any]], None] | None) -> None:
    """From now on, :meth:`StageCache.save` in this process hands entries to ``callback`` instead of
    writing them (a method process: the harness writes them); ``None`` restores writing."""
    global _handoff
    _handoff = callback
    _handed.clear()


def compute_threads() -> int:
    """The torch intra-op thread count of this process (what stage results depend on)."""
    import torch  # lazy: core loads torch only where a stage key is made

    return int(torch.get_num_threads())


def stage_key(stage: str, params: Mapping[str, Any], inputs: Mapping[str, Any] | None = None, *, threads: int | None = None, device: str = "cpu") -> str:
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
    threads : int, optional
        The thread count the stage runs with; default :func:`compute_threads`.
    device : str
        The device the stage computes on, for a stage whose value depends on it: a
        GPU's key adds the device kind (:func:`reconbench.core.device.device_kind`);
        the CPU's key is the one it always was.

    Returns
    -------
    str
        64 hex characters.
    """
    input_hashes = {}
    for name, value in (inputs or {}).items():
        input_hashes[name] = value if isinstance(value, str) else array_hash(value)
    threads = compute_threads() if threads is None else int(threads)
    identity: dict[str, Any] = {"stage": stage, "params": dict(params), "inputs": input_hashes, "threads": threads}
    if device_kind(device) != "cpu":
        identity["device"] = device_kind(device)
    return sha256_text(canonical_json(identity))


def arrays_only(payload: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``payload`` without the reserved meta and entry records."""
    return {name: value for name, value in payload.items() if name not in (_META_KEY, _ENTRY_KEY)}


def _entry_problem(entry: Any, stage: str, key: str, arrays: Mapping[str, np.ndarray]) -> str:
    """Why a loaded entry cannot be trusted for ``(stage, key)``, or ``""``."""
    if not isinstance(entry, dict):
        return "no integrity record (written by an older reconbench or not by reconbench)"
    if entry.get("writer") != WRITER:
        return "not written by the harness (a method process wrote it)"
    if entry.get("stage") != stage or entry.get("key") != key:
        return f"it is the entry of {entry.get('stage')}/{str(entry.get('key'))[:16]} (swapped or copied)"
    recorded = entry.get("sha256")
    if not isinstance(recorded, dict) or set(recorded) != set(arrays):
        return "its arrays are not the ones recorded"
    for name, value in arrays.items():
        if array_hash(value) != recorded[name]:
            return f"array {name!r} does not match its sha256"
    return ""


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
        #: Entries that failed their check: (stage, key, reason).
        self.rejected: list[tuple[str, str, str]] = []

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def path(self, stage: str, key: str) -> Path:
        """Return the file of an entry: ``root/stage/key[:2]/key.npz``."""
        if self.root is None:
            raise ReconbenchError("the stage cache is disabled; there is no entry path")
        if not stage.replace("_", "").replace("-", "").isalnum():
            raise ReconbenchError(f"stage name {stage!r} must be alphanumeric (with _ or -)")
        if not (isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
            raise ReconbenchError(f"stage cache key {key!r} of stage {stage!r} is not 64 lowercase hex characters (stage_key makes them)")
        return self.root / stage / key[:2] / f"{key}.npz"

    def load(self, stage: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Return ``(arrays, meta)`` of an entry, or ``None`` if it is absent or unreadable."""
        if self.root is None:
            return None
        path = self.path(stage, key)
        if (str(self.root), stage, key) in _handed:
            arrays, meta = _handed[str(self.root), stage, key]
            return {name: np.array(value) for name, value in arrays.items()}, json.loads(json.dumps(meta))
        if not path.is_file():
            return None
        try:
            with os.fdopen(open_no_follow(path, os.O_RDONLY), "rb") as handle, np.load(handle, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files if name not in (_META_KEY, _ENTRY_KEY)}
                meta = json.loads(str(data[_META_KEY])) if _META_KEY in data.files else {}
                entry = json.loads(str(data[_ENTRY_KEY])) if _ENTRY_KEY in data.files else None
        except Exception as exc:  # noqa: BLE001 - whatever the zip/npy readers raise, the entry is only lost work
            self._reject(stage, key, path, str(exc) if isinstance(exc, ReconbenchError) else f"unreadable ({type(exc).__name__})")
            return None
        reason = _entry_problem(entry, stage, key, arrays)
        if reason:
            self._reject(stage, key, path, reason)
            return None
        return arrays, meta

    def _reject(self, stage: str, key: str, path: Path, reason: str) -> None:
        """Report a corrupt entry once, move it aside so the next lookup recomputes it."""
        self.rejected.append((stage, key, reason))
        folder = self.root / "quarantine"
        target = folder / f"{stage}-{key}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.npz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            where = f"moved to {target}"
        except OSError:
            where = "left in place"
        print(f"reconbench: stage cache entry {stage}/{key[:16]} rejected: {reason}; {where}, recomputing", file=sys.stderr)

    @contextlib.contextmanager
    def _writers(self, *, exclusive: bool) -> Iterator[bool]:
        """Hold the writers' lock: shared (blocking) to write, exclusive (non-blocking) to clean.
        Yields whether the lock is held."""
        if fcntl is None:
            yield not exclusive
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = open_no_follow(self.root / WRITERS_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
                held = True
            except BlockingIOError:
                held = False
            yield held
        finally:
            os.close(fd)  # closing releases the lock

    def remove_orphans(self, folder: str | os.PathLike | None = None) -> list[Path]:
        """Remove temporary files that killed writes left under ``folder`` (default: the whole
        cache), if no process is writing into the cache now; return the removed paths."""
        if self.root is None:
            return []
        folder = self.root if folder is None else Path(folder)
        if not folder.is_dir():
            return []
        with self._writers(exclusive=True) as idle:
            return remove_orphans(folder) if idle else []

    def save(self, stage: str, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
        """Write an entry atomically (a reader sees the old entry or the complete new one).

        First removes what killed writes left in the entry's folder (when no write is under way)."""
        if self.root is None:
            return
        for reserved in (_META_KEY, _ENTRY_KEY):
            if reserved in arrays:
                raise ReconbenchError(f"array name {reserved!r} is reserved in stage {stage!r}")
        payload = {name: np.asarray(value) for name, value in arrays.items()}
        for name, value in payload.items():
            if value.dtype.kind == "O":
                raise ReconbenchError(f"stage {stage!r}: array {name!r} has dtype object; only numeric/str arrays are cached")
        payload[_META_KEY] = np.array(canonical_json(dict(meta or {})))
        target = self.path(stage, key)
        if _handoff is not None:  # a method process: the harness writes
            entry = arrays_only(payload)
            _handed[str(self.root), stage, key] = ({n: np.array(v) for n, v in entry.items()}, json.loads(str(payload[_META_KEY])))
            _handoff(stage, key, entry, dict(meta or {}))
            return
        payload[_ENTRY_KEY] = np.array(
            canonical_json({"stage": stage, "key": key, "writer": WRITER, "sha256": {name: array_hash(value) for name, value in arrays_only(payload).items()}})
        )
        for path in self.remove_orphans(target.parent):
            print(f"reconbench: stage cache: removed {path.name}, left by a killed write", file=sys.stderr)
        with self._writers(exclusive=False), atomic_path(target, suffix=".npz") as tmp:
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
