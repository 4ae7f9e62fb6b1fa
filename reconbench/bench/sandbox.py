"""The method process: a method runs in a child process of its own, which sees
only ``TrainData`` and ``TestInput``.

Why a process: a method that ran in the evaluator's process could walk the
stack or the garbage collector to the held-out images, kill the run with
``sys.exit``/``os._exit``, or hang it. Here:

- **What the child gets.** One request on a pipe: the method's name,
  parameters, seed and threads, the ``TrainData`` and the ``TestInput`` of
  every test set, pickled with their arrays out of band in anonymous memory
  files (``memfd``, read-only mappings in the child: no copy through the pipe,
  and a method that writes into its inputs fails as before). No ``Split``, no
  evaluator object, no path of the data or stimulus folder: the command line
  is ``python -m reconbench.bench.sandbox``, the working directory a fresh
  private folder, and the environment loses ``RECONBENCH_DATA`` and every
  variable that names the data or stimulus folder.
- **Sealing.** Before it imports the method's file, the child seals itself
  with Landlock (:mod:`reconbench.bench.landlock`): it may read the Python
  installation, the reconbench package, the ``--methods-dir`` folder and the
  weights cache, and write its private folder and the stage cache; nothing
  else (not the data folder, not ``/proc``). Where Landlock is unavailable the
  cell runs unsealed, the run says so once, and its rows record
  ``sealed = "no"``.
- **What comes back.** Reconstructions as raw float32 bytes with a JSON header
  (never a pickle: the parent does not unpickle what a method wrote), resized
  to the evaluation size in the child (inside the cell's limits), errors as
  text. The parent scores them. It checks every frame: size (headers 16 MB,
  arrays at most ``--cell-memory``), type, fields and order; a bad frame fails
  that cell (the stage it was in, and every later test set as "not run").
  Every read waits under the cell's deadline and memory cap. Whether the cell
  was sealed comes from the first frame only, which the child's harness code
  sends before it imports the method (a later ``ready`` fails the cell), and
  only where the parent itself sees Landlock.
- **No terminal.** The child's stdin is ``/dev/null``; its stdout and stderr are
  one pipe the parent drains into a capped buffer (the first 2 MB and last
  256 KB, a marker between), kept as ``cells/<key>.output.txt``; it holds no
  terminal descriptor and has no controlling terminal.
- **Failures.** A child that exits, is killed by a signal or crashes before
  replying, runs past the cell's wall-clock limit or past its resident-memory
  cap is killed (its whole process group) and the stage it was in fails with
  the cause. The child dies with its parent (``PR_SET_PDEATHSIG``). The server
  that forks it is the subreaper of everything it starts: after each child it
  kills every process left (a double-forked daemon included) before it reports
  the exit status, and it does the same when it stops or its parent dies.

Why one file of this length: the parent's side (start, feed and watch the
child) and the child's side (unpickle the job, seal, run the stages, reply)
are the two ends of one wire protocol (frames, memfd buffers, JSON headers),
kept in one module so they change together.
"""

from __future__ import annotations

import atexit
import io
import json
import mmap
import os
import pickle
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from reconbench.core.method import DEVICE_KEYWORD, SEED_KEYWORDS, seed_keyword, takes_device  # noqa: F401 - SEED_KEYWORDS re-exported
from reconbench.core.paths import CACHE_ENV, DATA_ENV, cache_dir
from reconbench.core.stage_cache import STAGE_CACHE_ENV

#: Environment variable naming the parent's pid (the child exits if it has already gone).
PARENT_ENV = "RECONBENCH_SANDBOX_PARENT"
#: How often the parent checks the child's resident memory while it waits (seconds).
POLL_SECONDS = 0.05
_HEADER = struct.Struct("!Q")
#: dtypes a reconstruction may come back as (kind letters of numpy).
_NUMERIC_KINDS = "biuf"
#: The largest JSON header frame the parent reads from a method process (bytes).
HEADER_FRAME_LIMIT = 16 << 20
#: The largest data frame (arrays) the parent reads from a method process without --cell-memory (bytes);
#: with it, the cap (a method process cannot hold a larger array than it may hold memory).
DEFAULT_FRAME_LIMIT = 1 << 30
#: What the parent keeps of a method process's stdout and stderr (one pipe): the first
#: OUTPUT_HEAD bytes and the last OUTPUT_TAIL bytes; what lies between is dropped with a marker.
OUTPUT_HEAD = 2 << 20
OUTPUT_TAIL = 256 << 10


class _PeerGone(EOFError):
    """The other end of the pipe closed."""


# --- framing -------------------------------------------------------------


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


# --- parent side -----------------------------------------------------------


@dataclass
class StageOutcome:
    """One stage (``fit`` or a test set) as the parent saw it."""

    error: str = ""
    traceback: str = ""
    seconds: float = 0.0
    predictions: np.ndarray | None = None
    #: The method's decoded intermediates (``Method.stage_outputs``), name -> (M, D), or an error text.
    stage_outputs: dict[str, np.ndarray] = field(default_factory=dict)
    stage_error: str = ""


@dataclass
class MethodRun:
    """What a method process did: per-stage outcomes, sealing and resources."""

    fit: StageOutcome = field(default_factory=StageOutcome)
    test_sets: dict[str, StageOutcome] = field(default_factory=dict)
    sealed: bool = False
    seal_note: str = ""
    peak_memory_mb: float = float("nan")
    stage_log: Any = None
    #: ``Method.stage_spaces()``: output name -> description (JSON fields and ``arrays``), or an error text.
    stage_spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage_spaces_error: str = ""
    #: ``{weights name: sha256}`` of the pinned weights the method loaded in its own process.
    weights: dict[str, str] = field(default_factory=dict)
    #: Wall seconds of the method process as the parent saw it: from asking for the process
    #: to its last message (start-up, sealing, job transfer, fit, reconstructions, replies).
    process_seconds: float = float("nan")
    #: Wall seconds from asking for the process to its ``ready`` message (start-up and sealing).
    startup_seconds: float = float("nan")
    #: Peak GPU memory the method process allocated (``torch.cuda.max_memory_allocated``, MB), as it
    #: reported it (a non-negative finite number, else None); None on the CPU.
    gpu_peak_memory_mb: float | None = None
    #: Whether the method process reached its ``ready`` message (sealed or not) before any method code ran.
    started: bool = False
    #: The method process's stdout and stderr (one stream, at most :data:`OUTPUT_HEAD` + :data:`OUTPUT_TAIL`
    #: bytes kept, a marker where bytes were dropped), its total size and whether bytes were dropped.
    output: bytes = b""
    output_bytes: int = 0
    output_truncated: bool = False
    #: Stage-cache entries the method process handed over and the harness did not write, and why.
    stage_cache_notes: list[str] = field(default_factory=list)


#: Arrays already in shared memory (:func:`share_array`, :mod:`reconbench.bench.shared_split`):
#: data address -> (file descriptor, offset, bytes). An entry lives exactly as long as its mapping
#: (removed when the mapping goes), so an address reused by later memory never finds a stale entry.
_SHARED: dict[int, tuple[int, int, int]] = {}
_SHARED_LOCK = threading.Lock()


def _address(raw: memoryview) -> int:
    return int(np.frombuffer(raw, dtype=np.uint8).ctypes.data) if raw.nbytes else 0


def register_shared(view: memoryview, fd: int, offset: int) -> int:
    """Record that ``view`` is ``fd``'s bytes from ``offset`` (page-aligned): a method process then maps
    the same pages. Returns the address; the caller unregisters it (:func:`unregister_shared`) when the
    mapping goes."""
    raw = memoryview(view).cast("B")
    address = _address(raw)
    if raw.nbytes:
        with _SHARED_LOCK:
            _SHARED[address] = (fd, int(offset), raw.nbytes)
    return address


def unregister_shared(addresses: Sequence[int]) -> None:
    with _SHARED_LOCK:
        for address in addresses:
            _SHARED.pop(address, None)


def _new_memfd(raw: memoryview) -> int:
    fd = os.memfd_create("reconbench-input", os.MFD_CLOEXEC)
    view = memoryview(raw).cast("B")
    while view:
        written = os.write(fd, view)
        view = view[written:]
    return fd


def _release_memfd(address: int, fd: int) -> None:
    unregister_shared([address])
    try:
        os.close(fd)
    except OSError:
        pass


def share_array(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array`` in anonymous shared memory (memfd).

    A cell's method process then maps the same pages instead of getting a copy,
    and the array is read-only. The memory file is closed when the copy is
    garbage-collected.
    """
    array = np.ascontiguousarray(array)
    if array.nbytes == 0 or array.dtype.hasobject:
        array.flags.writeable = False
        return array
    raw = memoryview(array).cast("B")
    fd = _new_memfd(raw)
    mapped = mmap.mmap(fd, array.nbytes, prot=mmap.PROT_READ)
    shared = np.frombuffer(mapped, dtype=array.dtype).reshape(array.shape)
    address = register_shared(memoryview(mapped), fd, 0)
    weakref.finalize(mapped, _release_memfd, address, fd)
    return shared


def _memfd_for(buffer: pickle.PickleBuffer, created: list[int]) -> tuple[int, int, int]:
    raw = buffer.raw()
    with _SHARED_LOCK:
        known = _SHARED.get(_address(raw)) if raw.nbytes else None
    if known is not None and known[2] == raw.nbytes:
        return known
    fd = _new_memfd(raw)
    created.append(fd)
    return fd, 0, raw.nbytes


#: Set in every method process: joblib without multiprocessing (its semaphores need a writable
#: ``/dev/shm``, which a cell does not get: Parallel runs its tasks one after the other, same results).
PRIVATE_ENVIRONMENT = {"JOBLIB_MULTIPROCESSING": "0"}
#: Variables naming a scratch folder: each a method process's private folder (removed with the cell).
SCRATCH_VARIABLES = ("TMPDIR", "TEMP", "TMP", "JOBLIB_TEMP_FOLDER")


def _child_environment(hidden: Sequence[str], private_dir: Path) -> dict[str, str]:
    """The environment the method-process server starts with (its children inherit it,
    and ``/proc/self/environ`` of a forked child shows this block): no variable naming
    the data or stimulus folder."""
    env = {}
    for name, value in os.environ.items():
        if name == DATA_ENV or any(h and h in value for h in hidden):
            continue
        env[name] = value
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["TMPDIR"] = str(private_dir)
    env.update(PRIVATE_ENVIRONMENT)
    env[PARENT_ENV] = str(os.getpid())
    env.setdefault(CACHE_ENV, str(cache_dir()))
    return env


# --- cell working folders ----------------------------------------------------
#
# Every process that runs cells keeps its method processes' private folders under
# ``$TMPDIR/reconbench-cells-<pid>-<start time>/``. The folder goes when the process
# exits normally; one left by a SIGKILLed process (its pid gone, or now another
# process's) is removed the next time any process here starts method processes.

CELLS_PREFIX = "reconbench-cells-"
_cells_root: Path | None = None


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return stat.rsplit(")", 1)[1].split()[19]
    except IndexError:
        return None


def _process_tag(pid: int) -> str:
    return f"{pid}-{_start_time(pid) or 0}"


def remove_stale_cell_folders(tmp: str | os.PathLike | None = None, prefix: str = CELLS_PREFIX) -> list[Path]:
    """Remove the cell folders of processes that are gone (killed before they could clean up).

    A folder ``<prefix><pid>-<start>`` (``reconbench-cells-...``) is stale when no process
    ``pid`` runs, or the one that does started at another time (the pid was reused).
    Returns the removed folders.
    """
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(prefix + "*"):
        pid, _, start = folder.name[len(prefix) :].partition("-")
        if not (pid.isdigit() and start.isdigit()) or not folder.is_dir():
            continue
        if _start_time(int(pid)) == start:
            continue  # a live process's folder
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def cells_root() -> Path:
    """This process's folder for cell working folders (made, and stale ones removed, on first use)."""
    global _cells_root
    if _cells_root is None or not _cells_root.is_dir():
        remove_stale_cell_folders()
        _cells_root = Path(tempfile.gettempdir()) / f"{CELLS_PREFIX}{_process_tag(os.getpid())}"
        _cells_root.mkdir(mode=0o700, exist_ok=True)
    return _cells_root


# --- the method-process server (zygote) ----------------------------------------
#
# Starting ``python`` and importing torch, scikit-learn and the built-in methods takes
# seconds; a cell's method process must nonetheless be fresh (no state of an earlier
# cell, no evaluator object). So each process that runs cells starts one server
# (``python -m reconbench.bench.sandbox --zygote FD``) that imports the heavy modules
# once, single-threaded, without running any torch operation, and then forks one child
# per cell. The child arms its death signal, starts its own session, moves into its
# private folder, seals itself and only then reads its job. The server waits for the
# child and reports its exit status; it dies with its parent, and the children with it.


class _ServerGone(EOFError):
    """The method-process server exited or stopped answering."""


class _Zygote:
    """One method-process server and the parent's end of its control socket."""

    def __init__(self, env: Mapping[str, str], key: tuple):
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.key = key
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconbench.bench.sandbox", "--zygote", str(child_end.fileno())],
            cwd=env["TMPDIR"],
            env=dict(env),
            pass_fds=[child_end.fileno()],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        child_end.close()
        self.sock = parent_end
        self.ready = False
        self.broken = False

    def _receive(self, timeout: float | None) -> dict[str, Any]:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError("the method-process server did not answer")
        try:
            data = self.sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.broken = True
            code = self.process.poll()
            if code is None:
                try:
                    code = self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = None
            raise _ServerGone(f"the method-process server exited (status {code})")
        return json.loads(data)

    def wait_ready(self, timeout: float | None) -> None:
        while not self.ready:
            if self._receive(timeout).get("type") == "ready":
                self.ready = True

    def spawn(self, job: Mapping[str, Any], fds: Sequence[int], timeout: float | None) -> int:
        """Fork a method process with ``fds``; returns its pid."""
        self.wait_ready(timeout)
        try:
            socket.send_fds(self.sock, [json.dumps(dict(job)).encode()], list(fds))
        except OSError as exc:
            self.broken = True
            raise _ServerGone(f"the method-process server is gone ({exc})") from exc
        reply = self._receive(timeout)
        if "pid" not in reply:
            self.broken = True
            raise _ServerGone(f"the method-process server could not start a process: {reply.get('error', reply)}")
        return int(reply["pid"])

    def wait_status(self, timeout: float) -> int | None:
        """The exit status of the last forked child (as ``Popen.returncode``), or None."""
        try:
            reply = self._receive(timeout)
        except (TimeoutError, _ServerGone):
            self.broken = True
            return None
        return int(reply["status"]) if "status" in reply else None

    def close(self) -> None:
        self.broken = True
        try:
            self.sock.close()
        finally:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL) if self.process.poll() is None else None
                self.process.wait()


_ZYGOTE_LOCK = threading.Lock()
#: Idle method-process servers by environment (a Dask worker may run several cells at once: one server each).
_IDLE_ZYGOTES: dict[tuple, list[_Zygote]] = {}
_ALL_ZYGOTES: list[_Zygote] = []


#: Set in the method-process server's environment so that importing numpy, scipy and pyarrow
#: (through scikit-learn and pandas) starts no thread: it forks only while single-threaded. Each
#: forked method process gets the user's values back (:data:`RESTORE_ENV`) and sets its thread
#: counts itself (:func:`reconbench.bench.executors.limit_threads`).
SINGLE_THREADED_IMPORTS = {"OPENBLAS_NUM_THREADS": "1", "JE_ARROW_MALLOC_CONF": "background_thread:false"}
#: The user's values of :data:`SINGLE_THREADED_IMPORTS` (JSON, null: unset), restored in each method process.
RESTORE_ENV = "RECONBENCH_RESTORE_ENV"


def _zygote_environment(hidden: Sequence[str]) -> dict[str, str]:
    env = _child_environment(hidden, cells_root())
    env[RESTORE_ENV] = json.dumps({name: env.get(name) for name in SINGLE_THREADED_IMPORTS})
    env.update(SINGLE_THREADED_IMPORTS)
    return env


def _threads() -> int:
    """This process's thread count (1 where /proc cannot say)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _zygote_key(hidden: Sequence[str]) -> tuple:
    # Servers are told apart by the paths kept out of their environment (set when each starts).
    return tuple(sorted(set(hidden)))


def prestart(hidden: Sequence[str] = ()) -> None:
    """Start a method-process server for these hidden paths if none is idle, without waiting
    for it: it imports its modules while the caller loads the data."""
    key = _zygote_key(hidden)
    with _ZYGOTE_LOCK:
        idle = [z for z in _IDLE_ZYGOTES.get(key, []) if not z.broken and z.process.poll() is None]
        if not idle:
            zygote = _Zygote(_zygote_environment(hidden), key)
            _ALL_ZYGOTES.append(zygote)
            idle.append(zygote)
        _IDLE_ZYGOTES[key] = idle


def _acquire_zygote(hidden: Sequence[str]) -> _Zygote:
    key = _zygote_key(hidden)
    with _ZYGOTE_LOCK:
        idle = _IDLE_ZYGOTES.setdefault(key, [])
        while idle:
            zygote = idle.pop()
            if not zygote.broken and zygote.process.poll() is None:
                return zygote
            zygote.close()
        zygote = _Zygote(_zygote_environment(hidden), key)
        _ALL_ZYGOTES.append(zygote)
        return zygote


def _release_zygote(zygote: _Zygote) -> None:
    with _ZYGOTE_LOCK:
        if zygote.broken or zygote.process.poll() is not None:
            zygote.close()
            if zygote in _ALL_ZYGOTES:
                _ALL_ZYGOTES.remove(zygote)
        else:
            _IDLE_ZYGOTES.setdefault(zygote.key, []).append(zygote)


def shutdown() -> None:
    """Stop every method-process server of this process and remove its cell folder (also run at exit)."""
    global _cells_root
    with _ZYGOTE_LOCK:
        for zygote in _ALL_ZYGOTES:
            try:
                zygote.close()
            except OSError:
                pass
        _ALL_ZYGOTES.clear()
        _IDLE_ZYGOTES.clear()
    if _cells_root is not None and _cells_root.name.startswith(f"{CELLS_PREFIX}{os.getpid()}-"):
        shutil.rmtree(_cells_root, ignore_errors=True)
        _cells_root = None


atexit.register(shutdown)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        try:
            import psutil

            return psutil.Process(pid).memory_info().rss / 2**20
        except Exception:  # noqa: BLE001 - a vanished process has no memory
            return float("nan")


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "the method process stopped replying"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        crash = " (the interpreter crashed)" if -returncode in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT) else ""
        return f"the method process was killed by {name}{crash}"
    return f"the method process exited with status {returncode} before finishing (sys.exit or os._exit in the method?)"


class _BadFrame(ValueError):
    """A message from the method process that breaks the protocol (type, schema, order or size)."""


class _Output:
    """A method process's stdout and stderr as the parent keeps them: the first ``head`` bytes, the
    last ``tail`` bytes, and how many were dropped between them (memory stays bounded whatever it writes)."""

    def __init__(self, head: int = OUTPUT_HEAD, tail: int = OUTPUT_TAIL):
        self.head, self.tail = head, tail
        self.first = bytearray()
        self.last = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head - len(self.first)
        if room > 0:
            self.first += data[:room]
            data = data[room:]
        if data:
            self.last += data
            if len(self.last) > 2 * self.tail:
                del self.last[: len(self.last) - self.tail]

    @property
    def dropped(self) -> int:
        return max(0, self.total - len(self.first) - min(len(self.last), self.tail))

    def value(self) -> bytes:
        last = bytes(self.last[-self.tail :]) if self.last else b""
        if not self.dropped:
            return bytes(self.first) + last
        marker = (
            f"\n[... reconbench: {self.dropped} bytes of the method's output dropped here (kept: the first {self.head} and the last {self.tail} bytes) ...]\n"
        )
        return bytes(self.first) + marker.encode() + last


class _Child:
    """A running method process (forked by a server) and the parent's end of its pipes.

    Every read waits in slices of :data:`POLL_SECONDS`, checking the cell's deadline and memory cap
    and draining the process's output pipe between slices: a method that writes half a frame and
    sleeps, or floods its stdout, fails at the cell's limits and never blocks the parent."""

    def __init__(self, request: bytes, buffer_fds: list[int], *, hidden: Sequence[str], timeout: float | None, memory_mb: float | None, threads: int):
        self.started = time.monotonic()
        self.deadline = None if not timeout else self.started + float(timeout)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.peak_mb = float("nan")
        self.cause = ""
        self.pid: int | None = None
        self.returncode: int | None = None
        self.reaped = False
        self.output = _Output()
        self.private_dir = Path(tempfile.mkdtemp(prefix="cell-", dir=cells_root()))
        self.zygote = _acquire_zygote(hidden)
        request_read, self.request_write = os.pipe()
        self.reply_read, reply_write = os.pipe()
        self.output_read, output_write = os.pipe()
        os.set_blocking(self.output_read, False)
        job = {"cwd": str(self.private_dir), "threads": int(threads), "buffer_fds": list(buffer_fds)}
        try:
            self.pid = self.zygote.spawn(job, [request_read, reply_write, output_write] + list(buffer_fds), timeout)
        except (_ServerGone, TimeoutError) as exc:
            self.cause = str(exc)
        finally:
            os.close(request_read)
            os.close(reply_write)
            os.close(output_write)
        self.spawned = time.monotonic()
        try:
            if self.pid is not None:
                _write_frame(self.request_write, request)
        except OSError:
            pass  # the child died at once; the first read reports why
        finally:
            os.close(self.request_write)

    def _watch(self) -> None:
        rss = _rss_mb(self.pid)
        if not np.isnan(rss):
            self.peak_mb = rss if np.isnan(self.peak_mb) else max(self.peak_mb, rss)
        if self.memory_mb and rss > self.memory_mb:
            self.cause = f"memory limit: the method process used {rss:.0f} MB, over --cell-memory {self.memory_mb:.0f} MB"
            self.kill()
        elif self.deadline is not None and time.monotonic() > self.deadline:
            self.cause = f"timeout: the cell ran past --cell-timeout {self.timeout:g} s"
            self.kill()

    def _drain_output(self) -> bool:
        """Read what the output pipe holds now (at most a few MB per call); False at its end."""
        for _ in range(8):
            try:
                chunk = os.read(self.output_read, 1 << 20)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.output.add(chunk)
        return True

    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            ready, _, _ = select.select([self.reply_read, self.output_read], [], [], POLL_SECONDS)
            self._watch()
            if self.cause:
                raise _PeerGone()
            if self.output_read in ready:
                self._drain_output()
            if self.reply_read not in ready:
                continue
            chunk = os.read(self.reply_read, min(n, 1 << 20))
            if not chunk:
                self._reap(10)
                if self.returncode is None and not self.reaped:
                    self.kill()
                self.cause = self.cause or _describe_exit(self.returncode)
                raise _PeerGone()
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read(self, limit: int, what: str = "a message") -> bytes:
        """The next frame, at most ``limit`` bytes; raises :class:`_PeerGone` (with ``self.cause`` set)
        when the child is gone, and :class:`_BadFrame` (the child killed) for a larger frame."""
        if self.pid is None:
            raise _PeerGone()
        (length,) = _HEADER.unpack(self._read_exact(_HEADER.size))
        if length > limit:
            self.kill()
            raise _BadFrame(f"{what} of {length} bytes, over the limit of {limit} bytes")
        return self._read_exact(length)

    def _reap(self, timeout: float) -> None:
        if not self.reaped and self.pid is not None:
            self.returncode = self.zygote.wait_status(timeout)
            self.reaped = True

    def kill(self) -> None:
        """Kill the method process and its process group; the server then ends every other
        process the method started (it is their subreaper) before it reports the exit status."""
        if self.pid is None:
            return
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._reap(10)

    def close(self) -> None:
        self.kill()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # what the process wrote before it ended
            ready, _, _ = select.select([self.output_read], [], [], 0.1)
            if ready and not self._drain_output():
                break
            if not ready:
                break
        os.close(self.output_read)
        os.close(self.reply_read)
        _release_zygote(self.zygote)
        shutil.rmtree(self.private_dir, ignore_errors=True)


def run_method(
    request: Mapping[str, Any],
    train: Any,
    test_inputs: Mapping[str, Any],
    *,
    hidden: Sequence[str] = (),
    timeout: float | None = None,
    memory_mb: float | None = None,
    report: Callable[..., None] | None = None,
) -> MethodRun:
    """Fit and run one method in its own process.

    Parameters
    ----------
    request : mapping
        ``method``, ``methods_dir``, ``params``, ``seed``, ``threads``,
        ``seal`` (bool), ``size`` (the evaluation size: reconstructions come back
        resized to it, made in the method process) and ``readable`` / ``writable`` (extra folders).
    train : TrainData
    test_inputs : mapping of str to TestInput
    hidden : list of str
        Paths that must not reach the child through its environment.
    timeout : float, optional
        Wall-clock limit of the whole method process, seconds.
    memory_mb : float, optional
        Resident-memory cap of the method process, MB.
    report : callable, optional
        ``report(stage, step, total)``.

    Returns
    -------
    MethodRun
    """
    report = report or (lambda stage, step=0, total=0: None)
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps({"request": dict(request), "train": train, "test_inputs": dict(test_inputs)}, protocol=5, buffer_callback=buffers.append)
    created: list[int] = []
    fds = [_memfd_for(b, created) for b in buffers]
    message = pickle.dumps({"payload": payload, "buffers": fds}, protocol=5)
    outcome = MethodRun()
    try:
        child = _Child(message, sorted({fd for fd, _, _ in fds}), hidden=hidden, timeout=timeout, memory_mb=memory_mb, threads=int(request.get("threads", 1)))
    finally:
        for fd in created:  # the child has its own copies; shared arrays keep theirs
            os.close(fd)
    n_stages = 1 + len(test_inputs)
    names = [str(name) for name in test_inputs]
    data_limit = int(memory_mb * 2**20) if memory_mb else DEFAULT_FRAME_LIMIT
    header_limit = min(HEADER_FRAME_LIMIT, data_limit)
    stage = "fit"
    done_sets: list[str] = []
    try:
        while True:
            header = _parse_header(child.read(header_limit, "a message header"))
            kind = header["type"]
            if not outcome.started and kind != "ready":
                raise _BadFrame(f"a {kind!r} message before the process said it was ready")
            if kind == "ready":
                if outcome.started:
                    raise _BadFrame("a second 'ready' message (only the harness's first one, sent before any method code ran, counts)")
                outcome.started = True
                outcome.startup_seconds = time.monotonic() - child.started
                # Sealed only if sealing was asked for, Landlock exists here and the process's own
                # harness code (which sends this first message before it imports the method) sealed it.
                outcome.sealed = bool(header.get("sealed") is True and request.get("seal", True) and _landlock_available())
                outcome.seal_note = _field(header, "seal_note", str, "")
            elif kind == "fit":
                if stage != "fit":
                    raise _BadFrame("a second 'fit' message")
                outcome.fit = StageOutcome(error=_field(header, "error", str, ""), traceback=_field(header, "traceback", str, ""), seconds=_seconds(header))
                if outcome.fit.error:
                    stage = "done"  # the process ends after a failed fit (its 'done' message follows)
                else:
                    stage = names[0] if names else "done"
                    report(f"reconstruct {stage}", 1, n_stages)
            elif kind == "reconstruction":
                test_set = _field(header, "test_set", str, None)
                if test_set != stage or stage in ("fit", "done"):
                    raise _BadFrame(f"a reconstruction of {test_set!r} where {stage!r} was due")
                result = StageOutcome(error=_field(header, "error", str, ""), traceback=_field(header, "traceback", str, ""), seconds=_seconds(header))
                if not result.error:
                    shape, dtype = _array_header(header)
                    expected = (len(np.asarray(test_inputs[test_set].stimulus_ids)), 3) + ((int(request["size"]),) * 2 if request.get("size") else shape[2:])
                    if shape != expected:
                        raise _BadFrame(f"a reconstruction of shape {shape} where the harness resized it to {expected}")
                    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else 0
                    if nbytes > data_limit:
                        child.kill()
                        raise _BadFrame(f"a reconstruction of shape {shape} ({nbytes} bytes), over the limit of {data_limit} bytes")
                    data = child.read(nbytes, "a reconstruction")
                    if len(data) != nbytes:
                        raise _BadFrame(f"a reconstruction of {len(data)} bytes for shape {shape} and dtype {dtype} ({nbytes} bytes)")
                    result.predictions = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
                outcome.test_sets[test_set] = result
                done_sets.append(test_set)
                position = names.index(test_set) + 1
                stage = names[position] if position < len(names) else "done"
                report(f"reconstruct {stage}", position + 1, n_stages)
            elif kind == "stage_outputs":
                test_set = _field(header, "test_set", str, None)
                target = outcome.test_sets.get(test_set)
                if target is None or target.error or target.stage_outputs or target.stage_error or not done_sets or test_set != done_sets[-1]:
                    raise _BadFrame(f"stage outputs of {test_set!r} out of turn")
                error = _field(header, "error", str, "")
                data = None if error else child.read(data_limit, "a stage-output message")
                target.stage_outputs, target.stage_error = _npz_from({"error": error}, data)
                if not error and not target.stage_outputs and not target.stage_error:
                    target.stage_error = "no stage outputs"
            elif kind == "stage_spaces":
                if stage != "done" or outcome.stage_spaces or outcome.stage_spaces_error:
                    raise _BadFrame("stage spaces out of turn")
                error = _field(header, "error", str, "")
                described = header.get("spaces")
                if not error and not (isinstance(described, dict) and all(isinstance(v, dict) for v in described.values())):
                    raise _BadFrame("stage spaces without a description (a dict of dicts)")
                data = None if error else child.read(data_limit, "a stage-space message")
                arrays, outcome.stage_spaces_error = _npz_from({"error": error}, data)
                if not outcome.stage_spaces_error:
                    outcome.stage_spaces = {
                        str(name): {**fields, "arrays": {k.split("/", 1)[1]: v for k, v in arrays.items() if k.split("/", 1)[0] == name}}
                        for name, fields in described.items()
                    }
                    if not outcome.stage_spaces:
                        outcome.stage_spaces_error = "no stage spaces"
            elif kind == "error":  # harness code of the method process failed outside a stage
                error = _field(header, "error", str, "") or "an error without a message"
                failed = StageOutcome(error=error, traceback=_field(header, "traceback", str, ""))
                _fail_from(outcome, stage, names, failed, f"the method process stopped during {_stage_name(stage)}")
                break
            elif kind == "stage_entry":
                note = _store_stage_entry(request, header, child.read(data_limit, "a stage-cache entry"))
                if note:
                    outcome.stage_cache_notes.append(note)
            elif kind == "done":
                if stage != "done":
                    raise _BadFrame(f"'done' while {_stage_name(stage)} was due")
                outcome.stage_log = header.get("stage_log")
                outcome.weights = _pinned_weights(header.get("weights"))
                outcome.gpu_peak_memory_mb = _reported_megabytes(header.get("gpu_peak_memory_mb"))
                break
    except _BadFrame as exc:
        child.kill()
        cause = f"malformed message from the method process: {exc} (during {_stage_name(stage)}; the cell was stopped)"
        _fail_from(
            outcome,
            stage,
            names,
            StageOutcome(error=f"MethodProcessError: {cause}", traceback=cause),
            f"the method process was stopped during {_stage_name(stage)}",
        )
    except _PeerGone:
        failed = StageOutcome(error=f"MethodProcessError: {child.cause}", traceback=f"{child.cause} (during {_stage_name(stage)})")
        _fail_from(outcome, stage, names, failed, f"the method process ended during {_stage_name(stage)} ({child.cause})")
    finally:
        outcome.process_seconds = time.monotonic() - child.started
        child.close()
        outcome.peak_memory_mb = child.peak_mb
        outcome.output = child.output.value()
        outcome.output_bytes = child.output.total
        outcome.output_truncated = bool(child.output.dropped)
    return outcome


#: Message types a method process sends (in this order: ready, fit, then per test set a reconstruction
#: and maybe its stage outputs, maybe the stage spaces, done; ``error`` when its harness code fails;
#: ``stage_entry`` whenever a method saves a stage-cache entry, for the harness to write).
FRAME_TYPES = ("ready", "fit", "reconstruction", "stage_outputs", "stage_spaces", "stage_entry", "error", "done")


def _stage_name(stage: str) -> str:
    return {"fit": "fit", "done": "the end of the run"}.get(stage, f"reconstruct {stage}")


def _fail_from(outcome: MethodRun, stage: str, names: Sequence[str], failed: StageOutcome, why: str) -> None:
    """Fail ``stage`` with ``failed`` and every later test set with ``why`` (each keeps a failed row)."""
    if stage == "fit":
        outcome.fit = failed
        return
    if stage == "done":
        if not outcome.fit.error and all(name in outcome.test_sets for name in names):
            # Every stage had its result: a failure after them (spaces, done) fails the diagnostics only.
            outcome.stage_spaces_error = outcome.stage_spaces_error or failed.error
        return
    outcome.test_sets[stage] = failed
    for name in names[names.index(stage) + 1 :]:
        outcome.test_sets.setdefault(name, StageOutcome(error=f"MethodProcessError: not run: {why}", traceback=why))


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
    """The shape and dtype a reconstruction message announces: four non-negative integers and a numeric dtype."""
    shape = header.get("shape")
    if not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31 for n in shape):
        raise _BadFrame(f"a reconstruction of shape {str(shape)[:100]}, expected four non-negative integers (M, 3, H, W)")
    try:
        dtype = np.dtype(str(header.get("dtype", "")))
    except TypeError:
        raise _BadFrame(f"a reconstruction of dtype {str(header.get('dtype'))[:50]!r}") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise _BadFrame(f"a reconstruction of dtype {dtype}, not numeric")
    return tuple(shape), dtype


def _landlock_available() -> bool:
    from reconbench.bench.landlock import abi_version

    return abi_version() > 0


#: The packages whose methods' stage-cache entries the harness writes (reviewed code; a plugin's are dropped).
TRUSTED_STAGE_WRITERS = ("reconbench.methods.", "reconbench.baselines.")


def _store_stage_entry(request: Mapping[str, Any], header: Mapping[str, Any], data: bytes) -> str:
    """Write a stage-cache entry a method process handed over, if its cell runs a built-in method
    (the harness's own knowledge: the module it asked the process to import). Returns why it was
    not written ("" when it was); never fatal, the cache only skips work."""
    from reconbench.core.stage_cache import default_stage_cache

    stage, key = str(header.get("stage")), str(header.get("key"))
    if not str(request.get("module", "")).startswith(TRUSTED_STAGE_WRITERS):
        return f"stage {stage}/{key[:16]}: not cached (only built-in methods write the stage cache)"
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if any(a.dtype.kind not in _NUMERIC_KINDS + "US" for a in arrays.values()):
            raise ValueError("an array is not numeric or text")
        meta = header.get("meta")
        if not isinstance(meta, dict):
            raise ValueError("its meta is not a dict")
        default_stage_cache().save(stage, key, arrays, meta)
    except Exception as exc:  # noqa: BLE001 - a lost entry is only lost work
        return f"stage {stage}/{key[:16]}: not cached ({type(exc).__name__}: {exc})"
    return ""


def _pinned_weights(reported: Any) -> dict[str, str]:
    """The child's ``{weights name: sha256}`` report, keeping only known names with the pinned hash
    (the report comes from the method's process: a name or hash it made up is dropped)."""
    from reconbench.metrics.weights import PINNED_SHA256, WEIGHT_FILES

    if not isinstance(reported, dict):
        return {}
    return {name: sha for name, sha in sorted(reported.items()) if name in WEIGHT_FILES and sha == PINNED_SHA256[WEIGHT_FILES[name]]}


def _reported_megabytes(value: Any) -> float | None:
    """A memory figure the method process reported: a non-negative finite number, else None (the child is not trusted)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        return None
    return float(value)


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


# --- child side ------------------------------------------------------------


def method_kwargs(cls: type, params: Mapping[str, Any], seed: int, device: str = "cpu") -> dict[str, Any]:
    """``params`` plus the cell's seed as ``seed`` or ``random_state`` when ``cls.__init__`` takes one,
    and the cell's device as ``device`` when it takes that (:func:`reconbench.core.method.takes_device`)."""
    kwargs = dict(params)
    keyword = seed_keyword(cls)
    if keyword is not None:
        kwargs[keyword] = int(seed)
    if takes_device(cls):
        kwargs[DEVICE_KEYWORD] = str(device)
    return kwargs


def _method_class(request: Mapping[str, Any]) -> type:
    """Import the one module that defines the cell's method (a built-in, an entry point or a file of ``--methods-dir``)."""
    import importlib
    import importlib.util

    module_name = str(request["module"])
    if module_name in sys.modules:
        module = sys.modules[module_name]
    elif module_name.startswith("reconbench_user_methods."):
        spec = importlib.util.spec_from_file_location(module_name, request["file"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    cls = module
    for part in str(request["class"]).split("."):
        cls = getattr(cls, part)
    return cls


def _writable_copy(array: np.ndarray, regions: Sequence[tuple[int, int, int]], views: Sequence[memoryview]) -> np.ndarray:
    """A writable ``array``: a copy-on-write mapping of its shared pages when it is one of the
    mapped ``regions`` (no up-front copy: on ``default`` the unlabelled images are ~1 GB), else a copy."""
    address = array.__array_interface__["data"][0]
    for (fd, offset, nbytes), view in zip(regions, views):
        if nbytes and nbytes == array.nbytes and _address(memoryview(view).cast("B")) == address and array.flags.c_contiguous:
            private = mmap.mmap(fd, nbytes, access=mmap.ACCESS_COPY, offset=offset)
            return np.frombuffer(private, dtype=array.dtype).reshape(array.shape)
    return np.array(array)


def _attach(buffers: Sequence[tuple[int, int, int]], close: bool = True) -> list[memoryview]:
    """Map each ``(fd, offset, bytes)`` read-only; close the descriptors (unless ``close`` is false)."""
    views, maps, fds = [], {}, set()
    for fd, offset, nbytes in buffers:
        fds.add(fd)
        if nbytes == 0:
            views.append(memoryview(b""))
            continue
        if (fd, offset, nbytes) not in maps:
            maps[fd, offset, nbytes] = mmap.mmap(fd, nbytes, prot=mmap.PROT_READ, offset=offset)
        views.append(memoryview(maps[fd, offset, nbytes]))
    if close:
        for fd in fds:
            os.close(fd)
    return views


def import_folders() -> list[str]:
    """Every folder the interpreter imports from (each ``sys.path`` entry that exists: site-packages,
    ``PYTHONPATH`` entries, user site-packages, conda layouts, zip files), which a sealed method
    process may read, except:

    - a folder that holds the temporary folder (``/tmp``), where the cells' private folders and
      the run's shared split (the test images) are;
    - the folder holding the reconbench package when it is a source checkout (``pyproject.toml``
      or ``.git`` beside the package: results folders such as ``runs/`` may be there); the package
      folder itself is readable (:func:`readable_folders`);
    - ``sys.path[0]``, the script's folder or the working directory (a method process's is the
      server's working directory, under ``$TMPDIR``; the harness's is where you ran it), unless
      Python runs with ``-P`` (safe path).

    The harness refuses a results, data or stimulus folder inside any of them
    (:func:`reconbench.bench.runner.check_out_folder`)."""
    temp = Path(tempfile.gettempdir()).resolve()
    package_parent = Path(__file__).resolve().parents[2]
    checkout = (package_parent / "pyproject.toml").exists() or (package_parent / ".git").exists()
    folders = []
    for entry in sys.path if getattr(sys.flags, "safe_path", False) else sys.path[1:]:
        if not entry or not os.path.exists(entry):
            continue
        path = Path(entry).resolve()
        if path == temp or path in temp.parents or (checkout and path == package_parent):
            continue
        folders.append(str(path))
    return sorted(set(folders))


def readable_folders(methods_dir: str | None) -> list[str]:
    """Folders a sealed method process may read: the Python installation, the
    reconbench package, the method folder, the weights cache and the system's
    library folders (no data folder, no ``/proc``)."""
    import sysconfig

    folders = {str(Path(__file__).resolve().parents[1])}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            folders.add(path)
    folders.update(import_folders())
    # /proc/cpuinfo and the process's own /proc entry: CPU feature detection (torch's
    # kernel choice) and psutil; never /proc as a whole, where the parent's command line is.
    folders.update(
        [
            "/usr",
            "/lib",
            "/lib64",
            "/bin",
            "/etc",
            "/sys",
            "/dev/null",
            "/dev/zero",
            "/dev/urandom",
            "/dev/random",
            "/proc/cpuinfo",
            "/proc/meminfo",
            "/proc/stat",
            f"/proc/{os.getpid()}",
            sys.prefix,
            sys.base_prefix,
            str(Path(sys.executable).resolve().parent),
        ]
    )
    folders.discard("/")
    folders.add(str(cache_dir()))
    stages = _stage_cache_folder()
    if stages:
        folders.add(stages)
    if methods_dir:
        folders.add(str(Path(methods_dir).resolve()))
    return sorted(folders)


#: Device files (under ``/dev``) a sealed method process on a CUDA device may open read-write, those
#: present, beside every ``nvidia<N>``: the NVIDIA control, unified-memory and mode-setting nodes, the
#: capability nodes of a GPU partitioned with MIG, and the DRM folder.
CUDA_DEVICE_FILES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps", "dri")
#: Read-only driver information the CUDA driver reads when it starts (its parameters, the GPUs).
CUDA_DRIVER_INFO = ("/proc/driver/nvidia",)


def device_files(device: str, dev: str | os.PathLike = "/dev") -> list[str]:
    """The device files a sealed method process may open read-write for ``device``: none on the CPU;
    on CUDA every ``<dev>/nvidia<N>`` and :data:`CUDA_DEVICE_FILES`, those that exist. Nothing else
    is widened: no other file under ``/dev`` and no folder becomes writable (see
    :data:`reconbench.bench.landlock.DEVICE_RIGHTS`)."""
    from reconbench.core.device import is_cuda

    if not is_cuda(device):
        return []
    root = Path(dev)
    gpus = sorted(p for p in root.glob("nvidia*") if p.name[len("nvidia") :].isdigit())
    return [str(path) for path in [*gpus, *(root / name for name in CUDA_DEVICE_FILES)] if path.exists()]


def device_readable(device: str) -> list[str]:
    """Read-only driver information for ``device`` (:data:`CUDA_DRIVER_INFO` on CUDA, those present; none on the CPU)."""
    from reconbench.core.device import is_cuda

    return [path for path in CUDA_DRIVER_INFO if os.path.exists(path)] if is_cuda(device) else []


#: Paths beside the device files that a sealed method process on CUDA may also write ("{pid}": its own
#: process id), those present. The CUDA driver writes into its own threads' entries under
#: ``/proc/<pid>/task`` when it starts (file write and truncate; without them cudaGetDeviceCount fails
#: with error 304). Found by elimination over every path on an H200 (driver 580, torch 2.11 + CUDA
#: 13.0, Landlock ABI 7); the entries are the process's own, procfs allows no file to be made there.
CUDA_WRITABLE: tuple[str, ...] = ("/proc/{pid}/task",)


def device_writable(device: str) -> list[str]:
    """Paths a sealed method process may write for ``device`` beside :func:`writable_folders`:
    :data:`CUDA_WRITABLE` on CUDA, those present; none on the CPU."""
    from reconbench.core.device import is_cuda

    if not is_cuda(device):
        return []
    paths = [path.format(pid=os.getpid()) for path in CUDA_WRITABLE]
    return [path for path in paths if os.path.exists(path)]


def _stage_cache_folder() -> str | None:
    """The stage cache's folder (None when caching is off): readable by a method process, never writable."""
    stage_env = os.environ.get(STAGE_CACHE_ENV, "")
    if stage_env.strip().lower() in {"off", "0", "none", "false", "no"}:
        return None
    return str(Path(stage_env).expanduser() if stage_env else cache_dir() / "stages")


def writable_folders() -> list[str]:
    """Folders a sealed method process may write: its private folder, nothing else. Not
    ``/dev/shm`` (shared by every cell: an oracle could leave the true images there for a
    ranked method; without it joblib runs serially, :data:`PRIVATE_ENVIRONMENT`, and
    multiprocessing's locks and pools fail, :data:`NO_SHARED_MEMORY_HINT`), not the
    stage cache (the harness writes the entries a method process hands over,
    :func:`_store_stage_entry`)."""
    return [os.getcwd()]


def _send(fd: int, header: Mapping[str, Any], data: bytes | None = None) -> None:
    _write_frame(fd, json.dumps(header, default=repr).encode())
    if data is not None:
        _write_frame(fd, data)


#: Added to an error of a sealed process whose CUDA would not start (README, "GPUs", Sealing).
SEALED_CUDA_HINT = (
    " [CUDA did not start inside the sealed method process, which may use the NVIDIA device files, "
    "/proc/driver/nvidia and its own /proc/<pid>/task (README, 'GPUs'); run with --device cpu, and "
    "report the driver and torch versions]"
)


#: Added to a PermissionError raised by multiprocessing's locks (POSIX semaphores) in a sealed process.
NO_SHARED_MEMORY_HINT = (
    " [a sealed method process has no /dev/shm (shared by every cell), so multiprocessing's locks, pools and queues "
    "are unavailable; use threads, or joblib (it runs serially there); README, 'Sealing']"
)


def _error_text(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose message cannot be made is still itself
        message = f"<unprintable {type(exc).__name__}>"
    text = f"{type(exc).__name__}: {message}".strip()
    if _SEALED_ON_CUDA and "cudaGetDeviceCount" in text:
        text += SEALED_CUDA_HINT
    if isinstance(exc, PermissionError) and any("multiprocessing" in frame.filename for frame in traceback.extract_tb(exc.__traceback__)):
        text += NO_SHARED_MEMORY_HINT
    return text


#: Set by the method process once it has sealed itself on a CUDA device.
_SEALED_ON_CUDA = False


def _json_safe(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _stages(method: Any, test_inputs: Mapping[str, Any], name: str, size: int | None = None) -> Iterator[tuple[str, dict, bytes | None]]:
    """Each test set's reconstructions, checked and (``size``) resized to the evaluation size here, inside
    the cell's time and memory limits: the parent never works on an output of the method's chosen size."""
    from reconbench.bench.evaluator import check_reconstructions
    from reconbench.core.images import resize

    for test_set, test_input in test_inputs.items():
        start = time.perf_counter()
        try:
            predictions = method.reconstruct(test_input)
            seconds = time.perf_counter() - start
            array = check_reconstructions(predictions, len(np.asarray(test_input.stimulus_ids)), method=name)
            if size:
                array = resize(array, int(size))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a method's failure is a result
            yield test_set, {"error": _error_text(exc), "traceback": traceback.format_exc(), "seconds": time.perf_counter() - start}, None
            continue
        array = np.ascontiguousarray(array)
        yield test_set, {"error": "", "seconds": seconds, "shape": list(array.shape), "dtype": array.dtype.str}, array.tobytes()


def _npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value, order="C") for name, value in arrays.items()})
    return buffer.getvalue()


def _send_stage_outputs(reply: int, method: Any, test_set: str, test_input: Any) -> None:
    """The method's decoded intermediates of one test set, for the stage-wise diagnostics (never fatal)."""
    try:
        outputs = method.stage_outputs(test_input)
        if not isinstance(outputs, Mapping):
            raise TypeError(f"stage_outputs returned {type(outputs).__name__}, expected a dict of arrays")
        data = _npz_bytes({str(k): np.asarray(v, dtype=np.float32) for k, v in outputs.items()})
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - diagnostics are optional
        _send(reply, {"type": "stage_outputs", "test_set": test_set, "error": _error_text(exc)})
        return
    _send(reply, {"type": "stage_outputs", "test_set": test_set, "error": ""}, data)


def _send_stage_spaces(reply: int, method: Any) -> None:
    """How the true value of each stage output is computed (JSON fields + arrays), never fatal."""
    try:
        spaces = method.stage_spaces()
        fields = {str(name): {k: v for k, v in space.items() if k != "arrays"} for name, space in spaces.items()}
        json.dumps(fields)
        arrays = {f"{name}/{k}": np.asarray(v, dtype=np.float64) for name, space in spaces.items() for k, v in (space.get("arrays") or {}).items()}
        data = _npz_bytes(arrays)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - diagnostics are optional
        _send(reply, {"type": "stage_spaces", "error": _error_text(exc)})
        return
    _send(reply, {"type": "stage_spaces", "error": "", "spaces": fields}, data)


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


def _loaded_weights() -> dict[str, str]:
    """The pinned weights this method process loaded (none if it never imported the weights module)."""
    module = sys.modules.get("reconbench.metrics.weights")
    return module.loaded_hashes() if module is not None else {}


def _gpu_peak_mb(device: str) -> float | None:
    """This process's peak GPU memory (MB), or None on the CPU or when CUDA cannot say (a broken context)."""
    from reconbench.core.device import peak_gpu_memory_mb

    try:
        return peak_gpu_memory_mb(device)
    except Exception:  # noqa: BLE001 - a figure, never a reason to lose the reply
        return None


def _run_job(request_fd: int, reply: int, fd_map: Mapping[int, int]) -> None:
    """The method process's work: read the job, seal, fit, reconstruct, reply."""
    message = _load_job(_read_frame(request_fd))
    os.close(request_fd)
    regions = [(fd_map.get(int(fd), int(fd)), int(offset), int(n)) for fd, offset, n in message["buffers"]]
    views = _attach(regions, close=False)
    job = _load_job(message["payload"], buffers=views)
    request, train, test_inputs = job["request"], job["train"], job["test_inputs"]
    if getattr(train, "extra_images", None) is not None:  # writable, as a method always got them
        import dataclasses

        train = dataclasses.replace(train, extra_images=_writable_copy(train.extra_images, regions, views))
    for fd in {fd for fd, _, _ in regions}:
        os.close(fd)

    from reconbench.bench.executors import limit_threads

    limit_threads(int(request["threads"]))
    import torch  # noqa: F401 - loaded before sealing, as every method imports it

    device = str(request.get("device", "cpu"))
    from reconbench.core.device import is_cuda, prepare_cuda

    if is_cuda(device):
        prepare_cuda()  # before the method's first CUDA call
    sealed, note = False, ""
    if request.get("seal", True):
        from reconbench.bench.landlock import SealError, seal

        try:
            seal(
                readable_folders(request.get("methods_dir")) + device_readable(device),
                writable_folders() + device_writable(device),
                devices=device_files(device),
            )
            sealed = True
            global _SEALED_ON_CUDA
            _SEALED_ON_CUDA = is_cuda(device)
        except SealError as exc:
            note = str(exc)
    else:
        note = "sealing turned off"
    _send(reply, {"type": "ready", "sealed": sealed, "seal_note": note, "readable": readable_folders(request.get("methods_dir"))})

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
    from reconbench.core import stage_cache

    # The stage cache is the harness's to write: an entry saved here goes to the parent (_store_stage_entry).
    stage_cache.hand_entries_to(
        lambda stage, key, arrays, meta: _send(reply, {"type": "stage_entry", "stage": stage, "key": key, "meta": meta}, _npz_bytes(arrays))
    )
    method = None
    start = time.perf_counter()
    try:
        cls = _method_class(request)
        method = cls(**method_kwargs(cls, request["params"], request["seed"], request.get("device", "cpu")))
        fitted = method.fit(train)
        method = method if fitted is None else fitted
        _send(reply, {"type": "fit", "error": "", "seconds": time.perf_counter() - start})
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a method's failure is a result, not a crash
        _send(reply, {"type": "fit", "error": _error_text(exc), "traceback": traceback.format_exc(), "seconds": time.perf_counter() - start})
        _flush_output()
        _send(reply, {"type": "done", "stage_log": None, "weights": _loaded_weights(), "gpu_peak_memory_mb": _gpu_peak_mb(device)})
        return
    for test_set, header, data in _stages(method, test_inputs, request["method"], request.get("size")):
        _send(reply, {"type": "reconstruction", "test_set": test_set, **header}, data)
        if not header.get("error") and callable(getattr(method, "stage_outputs", None)):
            _send_stage_outputs(reply, method, test_set, test_inputs[test_set])
    if callable(getattr(method, "stage_spaces", None)):
        _send_stage_spaces(reply, method)
    _flush_output()  # the parent ends the process once it has this message
    _send(
        reply,
        {
            "type": "done",
            "stage_log": _json_safe(getattr(method, "stage_log_", None)),
            "weights": _loaded_weights(),
            "gpu_peak_memory_mb": _gpu_peak_mb(device),
        },
    )


#: Modules the server imports once for every child: what the harness side of a method
#: process and the built-in methods need (importing runs no torch operation).
PRELOAD = (
    "numpy",
    "torch",
    "scipy.linalg",
    "sklearn.cluster",
    "sklearn.linear_model",
    "reconbench.bench.evaluator",
    "reconbench.bench.landlock",
    "reconbench.bench.executors",
    "reconbench.metrics.weights",
)


def _preload() -> None:
    import importlib
    import pkgutil

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - a missing optional module is imported (and fails) in the child
            pass
    for package_name in ("reconbench.baselines", "reconbench.methods"):  # built-ins only: reviewed code
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{info.name}")
    try:
        import joblib

        # Count physical cores now, unsealed (``lscpu`` needs /proc): the count is cached and
        # inherited by every child, where the sealed lookup would fail and warn.
        joblib.cpu_count(only_physical_cores=True)
    except ImportError:  # pragma: no cover - comes with scikit-learn
        pass


def _forked_child(job: Mapping[str, Any], fds: Sequence[int], server_pid: int) -> None:
    """In a child just forked by the server: become a fresh method process and run the job."""
    from reconbench.bench.executors import die_with_parent

    die_with_parent()
    if os.getppid() != server_pid:
        os._exit(1)  # the server died before the death signal was armed
    os.setsid()  # its own process group: the parent kills it and anything it starts at once
    for name, value in json.loads(os.environ.pop(RESTORE_ENV, "{}")).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    os.chdir(job["cwd"])
    for name in SCRATCH_VARIABLES:
        os.environ[name] = str(job["cwd"])
    tempfile.tempdir = None
    # joblib (scikit-learn's KMeans) asks loky for the core count; without this it runs
    # ``lscpu``, which a sealed process cannot, and warns "found 0 physical cores".
    os.environ["LOKY_MAX_CPU_COUNT"] = str(max(1, int(job["threads"])))
    request_fd, reply_fd, output_fd, *buffer_fds = fds
    _no_terminal(output_fd)
    try:
        _run_job(request_fd, reply_fd, dict(zip((int(f) for f in job["buffer_fds"]), buffer_fds)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as itself, never as an exit status
        try:
            _send(reply_fd, {"type": "error", "error": _error_text(exc), "traceback": traceback.format_exc()})
        except Exception:  # noqa: BLE001 - the parent is gone or the pipe broken: the exit status tells
            pass
        raise
    finally:
        _flush_output()


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a method may have replaced or closed them
            pass


def _no_terminal(output_fd: int) -> None:
    """Give this method process no terminal: stdin from ``/dev/null``, stdout and stderr into the
    parent's output pipe (captured per cell), and no other descriptor that is a terminal (no
    keystrokes pushed into the user's shell with ``TIOCSTI``). It has no controlling terminal either
    (its own session, started by the server, which has none)."""
    _flush_output()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if os.isatty(fd):
                    os.close(fd)
            except OSError:
                pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass


#: ``prctl`` options (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from ``/proc/*/stat``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def end_children(timeout: float = 10.0) -> int:
    """Kill and reap every child of this process, again and again until none is left (a killed
    child's own children are handed to this process, their subreaper). Returns how many were killed."""
    killed, me = 0, os.getpid()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _children(me)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        reaped = False
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = -1
            if pid <= 0:
                break
            reaped = True
        if not children and not reaped:
            try:
                os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return killed  # no child at all, not even an unreaped one
            time.sleep(0.01)
        elif children and not reaped:
            time.sleep(0.01)
    return killed


def _end_children_and_exit(signum: int = 0, frame: Any = None) -> None:
    end_children()
    os._exit(0)


def _zygote_main(control_fd: int) -> None:
    """The method-process server: import once, then fork one method process per request.

    It is the subreaper of every process a method starts (``PR_SET_CHILD_SUBREAPER``): a process
    whose parent ends (a double-forked daemon) becomes its child, and after each method process
    it kills every child left before it reports the exit status. It ends them all too when it
    stops, or when its own parent dies (its death signal is SIGTERM, handled: kill, then exit)."""
    signal.signal(signal.SIGTERM, _end_children_and_exit)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    expected = os.environ.get(PARENT_ENV)
    if expected and os.getppid() != int(expected):
        os._exit(1)  # the parent died before the death signal was armed
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    sock = socket.socket(fileno=control_fd)
    _preload()
    try:
        sock.send(json.dumps({"type": "ready", "threads": _threads()}).encode())
    except OSError:
        return  # the parent is done (it stopped before this server was ready)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4096)
        except OSError:
            break
        if not data:
            break  # the parent closed the socket (or died)
        job = json.loads(data)
        server_pid = os.getpid()
        if _threads() > 1:  # fork() copies one thread: a lock another one held stays locked in the child
            print(f"reconbench: the method-process server forks with {_threads()} threads (expected 1)", file=sys.stderr, flush=True)
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": str(exc)}).encode())
            continue
        if pid == 0:
            code = 0
            try:
                sock.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _prctl(_PR_SET_CHILD_SUBREAPER, 0)
                _forked_child(job, fds, server_pid)
            except BaseException:  # noqa: BLE001 - reported as the exit status
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        try:
            sock.send(json.dumps({"pid": pid}).encode())
            _, status = os.waitpid(pid, 0)
            end_children()  # whatever the method started dies with its cell
            sock.send(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:
            break
    end_children()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        _zygote_main(int(sys.argv[2]))
    sys.stdout.flush()
    os._exit(0)
