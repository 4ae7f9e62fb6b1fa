"""The wire between the harness and a method process: frames, message types and fields, the
restricted unpickler of a job, and the few names both ends share (environment variables, shared-memory
addresses). Used by :mod:`reconbench.bench.sandbox` (the parent) and :mod:`reconbench.bench.method_process`
(the child)."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
from typing import Any, Mapping

import numpy as np

#: Environment variable naming the parent's pid (the child exits if it has already gone).
PARENT_ENV = "RECONBENCH_SANDBOX_PARENT"


_HEADER = struct.Struct("!Q")


#: dtypes a stage-output or stage-space array may come back as (kind letters of numpy); a reconstruction comes back as float32.
_NUMERIC_KINDS = "biuf"


#: The largest JSON header frame the parent reads from a method process (bytes).
HEADER_FRAME_LIMIT = 16 << 20


#: The largest data frame (arrays) the parent reads from a method process without --cell-memory (bytes);
#: with it, the cap (a method process cannot hold a larger array than it may hold memory).
DEFAULT_FRAME_LIMIT = 1 << 30


#: The largest message on a method-process server's control socket (bytes): a fork request (the cell's
#: folder, threads and where each of the job's arrays lies) or the server's answer.
CONTROL_MESSAGE_LIMIT = 1 << 16


class _PeerGone(EOFError):
    """The other end of the pipe closed."""


def _write_frame(fd: int, payload: bytes) -> None:
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise _PeerGone()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> bytes:
    (length,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return _read_exact(fd, length)


def _address(raw: memoryview) -> int:
    return int(np.frombuffer(raw, dtype=np.uint8).ctypes.data) if raw.nbytes else 0


#: Variables naming a scratch folder: each a method process's private folder (removed with the cell).
SCRATCH_VARIABLES = ("TMPDIR", "TEMP", "TMP", "JOBLIB_TEMP_FOLDER")


#: The user's values of :data:`SINGLE_THREADED_IMPORTS` (JSON, null: unset), restored in each method process.
RESTORE_ENV = "RECONBENCH_RESTORE_ENV"


def _threads() -> int:
    """This process's thread count (1 where /proc cannot say)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


class _BadFrame(ValueError):
    """A message from the method process that breaks the protocol (type, schema, order or size)."""


#: Message types a method process sends (in this order: ready, fit, then per test set a reconstruction
#: and maybe its stage outputs, maybe the stage spaces, done; ``error`` when its harness code fails;
#: ``stage_entry`` whenever a method saves a stage-cache entry, for the harness to write).
FRAME_TYPES = ("ready", "fit", "reconstruction", "stage_outputs", "stage_spaces", "stage_entry", "error", "done")


def _parse_header(data: bytes) -> dict[str, Any]:
    try:
        header = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadFrame(f"a message that is not JSON ({str(exc)[:200]})") from None
    if not isinstance(header, dict) or header.get("type") not in FRAME_TYPES:
        kind = header.get("type") if isinstance(header, dict) else type(header).__name__
        raise _BadFrame(f"a message of unknown type {str(kind)[:100]!r} (expected one of {', '.join(FRAME_TYPES)})")
    return header


def _field(header: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = header.get(name, default)
    if value is None and default is not None:
        return default
    if not isinstance(value, kind):
        raise _BadFrame(f"field {name!r} of a {header.get('type')!r} message is {type(value).__name__}, expected {kind.__name__}")
    return value


def _seconds(header: Mapping[str, Any]) -> float:
    value = header.get("seconds", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise _BadFrame(f"field 'seconds' of a {header.get('type')!r} message is {str(value)[:50]!r}, expected a finite number >= 0")
    return float(value)


def _array_header(header: Mapping[str, Any]) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a reconstruction message announces: four non-negative integers and float32
    (what the method process's harness code sends: the method's output checked, as float32, and resized)."""
    shape = header.get("shape")
    if not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31 for n in shape):
        raise _BadFrame(f"a reconstruction of shape {str(shape)[:100]}, expected four non-negative integers (M, 3, H, W)")
    try:
        dtype = np.dtype(str(header.get("dtype", "")))
    except TypeError:
        raise _BadFrame(f"a reconstruction of dtype {str(header.get('dtype'))[:50]!r}") from None
    if dtype != np.dtype(np.float32):
        raise _BadFrame(f"a reconstruction of dtype {dtype}, expected float32")
    return tuple(shape), dtype


def _reconstruction(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The reconstruction a message carries, checked: finite values in [0, 1] (its shape and size were
    checked against the header before it was read). The parent's one check of what it scores: the method
    process checked the method's output before its resize, but nothing a method process says is trusted.
    Raises :class:`_BadFrame`."""
    # A read-only view of the frame's bytes (immutable; the evaluator's alignment makes the one copy it scores).
    array = np.frombuffer(data, dtype=np.float32).reshape(shape)
    finite = np.isfinite(array)
    if not finite.all():
        raise _BadFrame(f"a reconstruction with {int(array.size - np.count_nonzero(finite))} non-finite values (NaN or inf)")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise _BadFrame(f"a reconstruction with values in [{float(array.min()):.4g}, {float(array.max()):.4g}], outside [0, 1]")
    return array


def _npz_from(header: Mapping[str, Any], data: bytes | None) -> tuple[dict[str, np.ndarray], str]:
    """Arrays of an ``.npz`` frame (numeric only, never pickles) and an error text ("" if none)."""
    if header.get("error") or data is None:
        return {}, str(header.get("error") or "no data")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        return {}, f"malformed stage message ({exc})"
    for name, array in arrays.items():
        if array.dtype.kind not in _NUMERIC_KINDS:
            return {}, f"stage array {name!r} has dtype {array.dtype}, not numeric"
    return arrays, ""


def _send(fd: int, header: Mapping[str, Any], data: bytes | None = None) -> None:
    _write_frame(fd, json.dumps(header, default=repr).encode())
    if data is not None:
        _write_frame(fd, data)


def _json_safe(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value, order="C") for name, value in arrays.items()})
    return buffer.getvalue()


#: The globals a job pickle may name (what :func:`run_method` sends): the two data contracts and numpy's array
#: rebuilders (out-of-band ``_frombuffer``, in-band ``_reconstruct``, under both module spellings). Anything else
#: (``os.system``, ``builtins.eval``...) is refused before it is looked up, as the weights unpickler
#: (``reconbench.metrics.weights_fetch.RestrictedUnpickler``) does for checkpoints.
_JOB_GLOBALS = {
    ("reconbench.core.types", "TrainData"),
    ("reconbench.core.types", "TestInput"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
}


#: What a shared split file may hold: the job's globals plus the :class:`~reconbench.core.types.Split` around them.
SPLIT_GLOBALS = frozenset(_JOB_GLOBALS | {("reconbench.core.types", "Split")})


class _JobUnpickler(pickle.Unpickler):
    """Unpickles builtin containers and scalars plus the globals in ``allowed`` (default :data:`_JOB_GLOBALS`), nothing else."""

    def __init__(self, *args: Any, allowed: frozenset | set = frozenset(_JOB_GLOBALS), what: str = "a job message", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._allowed, self._what = allowed, what

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle global {module}.{name} in {self._what}")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"refusing persistent id {pid!r} in {self._what}")


def load_restricted(data: Any, buffers: Any = None, *, allowed: frozenset | set = frozenset(_JOB_GLOBALS), what: str = "a job message") -> Any:
    """Unpickle ``data`` with :class:`_JobUnpickler`, admitting only ``allowed`` globals (``buffers``: the out-of-band buffers)."""
    return _JobUnpickler(io.BytesIO(data), buffers=buffers, allowed=allowed, what=what).load()


def _load_job(data: bytes, buffers: Any = None) -> Any:
    """Unpickle a job message with :class:`_JobUnpickler`: :data:`_JOB_GLOBALS` only."""
    return load_restricted(data, buffers)
