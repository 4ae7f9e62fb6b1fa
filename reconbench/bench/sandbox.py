"""The method process: a method runs in a child process of its own, which sees
only ``TrainData`` and ``TestInput``.

Why a process: a method that ran in the evaluator's process could walk the
stack or the garbage collector to the held-out images, kill the run with
``sys.exit``/``os._exit``, or hang it. Here:

- **What the child gets.** One request on a pipe: the method's name,
  parameters, seed and threads, the ``TrainData`` and the ``TestInput`` of
  every test set, pickled once with their arrays out of band in anonymous memory
  files (``memfd``, read-only mappings in the child: no copy through the pipe,
  and a method that writes into its inputs fails as before); where each array
  lies goes with the descriptors in the server's fork request. No ``Split``, no
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
  arrays at most ``--cell-memory``), type, fields and order, and a
  reconstruction's images once, as they arrive (shape, float32, finite, in
  [0, 1]: the evaluator does not check them again); a bad frame fails
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

Where each part lives: this module is the parent's side (start, feed and watch the child; the
method-process server pool; shared memory for the inputs; the cell folders);
:mod:`reconbench.bench.method_process` the child's (the server that forks it, sealing, running the
stages, replying); :mod:`reconbench.bench.protocol` the wire between them (frames, message types, the
restricted unpickler); :mod:`reconbench.bench.seal_rules` what a sealed child may read and write.
The names of the other three are importable from here as before.
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
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from reconbench.bench.method_process import (  # noqa: F401 - used here or re-exported (the names this module had)
    _PR_SET_CHILD_SUBREAPER,
    _PR_SET_PDEATHSIG,
    _SEALED_ON_CUDA,
    NO_SHARED_MEMORY_HINT,
    PRELOAD,
    SEALED_CUDA_HINT,
    _attach,
    _children,
    _end_children_and_exit,
    _error_text,
    _flush_output,
    _forked_child,
    _gpu_peak_mb,
    _loaded_weights,
    _method_class,
    _no_terminal,
    _prctl,
    _preload,
    _run_job,
    _send_stage_outputs,
    _send_stage_spaces,
    _stages,
    _writable_copy,
    _zygote_main,
    end_children,
    method_kwargs,
)
from reconbench.bench.protocol import (  # noqa: F401 - used here or re-exported (the names this module had)
    _HEADER,
    _JOB_GLOBALS,
    _NUMERIC_KINDS,
    CONTROL_MESSAGE_LIMIT,
    DEFAULT_FRAME_LIMIT,
    FRAME_TYPES,
    HEADER_FRAME_LIMIT,
    PARENT_ENV,
    RESTORE_ENV,
    SCRATCH_VARIABLES,
    SPLIT_GLOBALS,
    _address,
    _array_header,
    _BadFrame,
    _field,
    _JobUnpickler,
    _json_safe,
    _load_job,
    _npz_bytes,
    _npz_from,
    _parse_header,
    _PeerGone,
    _read_exact,
    _read_frame,
    _reconstruction,
    _seconds,
    _send,
    _threads,
    _write_frame,
    load_restricted,
)
from reconbench.bench.seal_rules import (  # noqa: F401 - used here or re-exported (the names this module had)
    CUDA_DEVICE_FILES,
    CUDA_DRIVER_INFO,
    CUDA_WRITABLE,
    _stage_cache_folder,
    device_files,
    device_readable,
    device_writable,
    import_folders,
    readable_folders,
    writable_folders,
)
from reconbench.core.method import SEED_KEYWORDS  # noqa: F401 - re-exported (reconbench.bench.cell)
from reconbench.core.paths import CACHE_ENV, DATA_ENV, cache_dir

#: How often the parent checks the child's resident memory while it waits (seconds).
POLL_SECONDS = 0.05


#: What the parent keeps of a method process's stdout and stderr (one pipe): the first
#: OUTPUT_HEAD bytes and the last OUTPUT_TAIL bytes; what lies between is dropped with a marker.
OUTPUT_HEAD = 2 << 20


OUTPUT_TAIL = 256 << 10


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


#: Set in every method process's environment (nothing at present: joblib, whose pools need a
#: writable ``/dev/shm`` for their semaphores, is made sequential in the child instead, see
#: :func:`reconbench.bench.method_process._forked_child`; ``JOBLIB_MULTIPROCESSING=0`` would also make
#: ``joblib.cpu_count()`` 1, and scikit-learn's KMeans run one thread, changing its results).
PRIVATE_ENVIRONMENT: dict[str, str] = {}


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
        request = json.dumps(dict(job)).encode()
        if len(request) > CONTROL_MESSAGE_LIMIT:
            raise ValueError(f"a fork request of {len(request)} bytes, over the server's limit of {CONTROL_MESSAGE_LIMIT} bytes (too many arrays in the job)")
        try:
            socket.send_fds(self.sock, [request], list(fds))
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


def _zygote_environment(hidden: Sequence[str]) -> dict[str, str]:
    env = _child_environment(hidden, cells_root())
    env[RESTORE_ENV] = json.dumps({name: env.get(name) for name in SINGLE_THREADED_IMPORTS})
    env.update(SINGLE_THREADED_IMPORTS)
    return env


def _zygote_key(hidden: Sequence[str], env: Mapping[str, str]) -> tuple:
    # Servers are told apart by the paths kept out of their environment and by the environment
    # they started with: a method process inherits its server's, so a server started before a
    # variable changed (RECONBENCH_STAGE_CACHE, thread counts, the device) is not reused after.
    return tuple(sorted(set(hidden))), tuple(sorted(env.items()))


def prestart(hidden: Sequence[str] = ()) -> None:
    """Start a method-process server for these hidden paths if none is idle, without waiting
    for it: it imports its modules while the caller loads the data."""
    env = _zygote_environment(hidden)
    key = _zygote_key(hidden, env)
    with _ZYGOTE_LOCK:
        idle = [z for z in _IDLE_ZYGOTES.get(key, []) if not z.broken and z.process.poll() is None]
        if not idle:
            zygote = _Zygote(env, key)
            _ALL_ZYGOTES.append(zygote)
            idle.append(zygote)
        _IDLE_ZYGOTES[key] = idle


def _acquire_zygote(hidden: Sequence[str]) -> _Zygote:
    env = _zygote_environment(hidden)
    key = _zygote_key(hidden, env)
    with _ZYGOTE_LOCK:
        idle = _IDLE_ZYGOTES.setdefault(key, [])
        while idle:
            zygote = idle.pop()
            if not zygote.broken and zygote.process.poll() is None:
                return zygote
            zygote.close()
        zygote = _Zygote(env, key)
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

    def __init__(
        self, job: bytes, regions: Sequence[tuple[int, int, int]], *, hidden: Sequence[str], timeout: float | None, memory_mb: float | None, threads: int
    ):
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
        buffer_fds = sorted({fd for fd, _, _ in regions})
        fork = {"cwd": str(self.private_dir), "threads": int(threads), "buffer_fds": buffer_fds, "buffers": [[int(v) for v in r] for r in regions]}
        try:
            self.pid = self.zygote.spawn(fork, [request_read, reply_write, output_write] + buffer_fds, timeout)
        except (_ServerGone, TimeoutError, ValueError) as exc:
            self.cause = str(exc)
        finally:
            os.close(request_read)
            os.close(reply_write)
            os.close(output_write)
        self.spawned = time.monotonic()
        try:
            if self.pid is not None:
                _write_frame(self.request_write, job)
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
    # The job crosses once: one pickle (read in the child by the restricted unpickler), its arrays out of
    # band in memory files; where each lies ((fd, offset, bytes)) goes in the server's fork request.
    buffers: list[pickle.PickleBuffer] = []
    job = pickle.dumps({"request": dict(request), "train": train, "test_inputs": dict(test_inputs)}, protocol=5, buffer_callback=buffers.append)
    created: list[int] = []
    regions = [_memfd_for(b, created) for b in buffers]
    outcome = MethodRun()
    try:
        child = _Child(job, regions, hidden=hidden, timeout=timeout, memory_mb=memory_mb, threads=int(request.get("threads", 1)))
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
                    # The one check of the reconstruction the harness scores (shape, dtype, size here, values in
                    # _reconstruction): the evaluator does not check it again.
                    shape, dtype = _array_header(header)
                    expected = (len(np.asarray(test_inputs[test_set].stimulus_ids)), 3) + (
                        (int(request["size"]),) * 2 if request.get("size") else (shape[2],) * 2
                    )
                    if shape != expected:
                        raise _BadFrame(f"a reconstruction of shape {shape} where the harness resized it to {expected}")
                    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else 0
                    if nbytes > data_limit:
                        child.kill()
                        raise _BadFrame(f"a reconstruction of shape {shape} ({nbytes} bytes), over the limit of {data_limit} bytes")
                    data = child.read(nbytes, "a reconstruction")
                    if len(data) != nbytes:
                        raise _BadFrame(f"a reconstruction of {len(data)} bytes for shape {shape} and dtype {dtype} ({nbytes} bytes)")
                    result.predictions = _reconstruction(data, shape)
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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        _zygote_main(int(sys.argv[2]))
    sys.stdout.flush()
    os._exit(0)
