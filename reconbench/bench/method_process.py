"""The method process's side (the child): the method-process server (zygote) that forks one child per
cell, and in the child: die with the parent, drop the terminal, seal, import the method, run fit and
reconstruct, reply in frames (:mod:`reconbench.bench.protocol`). The parent's side is
:mod:`reconbench.bench.sandbox`."""

from __future__ import annotations

import json
import mmap
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from reconbench.bench.protocol import (
    CONTROL_MESSAGE_LIMIT,
    PARENT_ENV,
    RESTORE_ENV,
    SCRATCH_VARIABLES,
    _address,
    _json_safe,
    _load_job,
    _npz_bytes,
    _read_frame,
    _send,
    _threads,
)
from reconbench.bench.seal_rules import device_files, device_readable, device_writable, readable_folders, writable_folders
from reconbench.core.method import DEVICE_KEYWORD, seed_keyword, takes_device


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


#: Added to an error of a sealed process whose CUDA would not start (docs/add-a-method.md, "On CUDA").
SEALED_CUDA_HINT = (
    " [CUDA did not start inside the sealed method process, which may use the NVIDIA device files, "
    "/proc/driver/nvidia and its own /proc/<pid>/task (docs/add-a-method.md, 'On CUDA'); run with --device cpu, and "
    "report the driver and torch versions]"
)


#: Added to a PermissionError raised by multiprocessing's locks (POSIX semaphores) in a sealed process.
NO_SHARED_MEMORY_HINT = (
    " [a sealed method process has no /dev/shm (shared by every cell), so multiprocessing's locks, pools and queues "
    "are unavailable; use threads, or joblib (it runs the tasks one after the other there); docs/add-a-method.md, 'What a sealed method process may do']"
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


def _stages(method: Any, test_inputs: Mapping[str, Any], name: str, size: int | None = None) -> Iterator[tuple[str, dict, bytes | None]]:
    """Each test set's reconstructions, checked and (``size``) resized to the evaluation size here, inside
    the cell's time and memory limits: the parent never works on an output of the method's chosen size.
    The check here is of the method's own output (real, ``(M, 3, H, H)``, finite, in [0, 1]), the only
    place it exists, before the resize (which clips): it names what the method did wrong. What the parent
    scores it checks itself, once, as it arrives (:func:`reconbench.bench.sandbox.run_method`)."""
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


def _run_job(request_fd: int, reply: int, fd_map: Mapping[int, int], buffers: Sequence[Sequence[int]]) -> None:
    """The method process's work: read the job (one pickle, its arrays mapped from ``buffers``, the
    ``(fd, offset, bytes)`` of each, as the parent numbered the descriptors), seal, fit, reconstruct, reply."""
    regions = [(fd_map.get(int(fd), int(fd)), int(offset), int(n)) for fd, offset, n in buffers]
    views = _attach(regions, close=False)
    job = _load_job(_read_frame(request_fd), buffers=views)
    os.close(request_fd)
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
    try:
        import joblib

        # No /dev/shm here, so no semaphores for joblib's process or thread pools (CPython's ThreadPool
        # needs one too): its Parallel runs the tasks one after the other (this thread's default). Not
        # JOBLIB_MULTIPROCESSING=0, which also makes joblib.cpu_count() 1, and scikit-learn's KMeans,
        # which sizes its OpenMP threads by it, run on one thread with other results.
        joblib.parallel_config(backend="sequential")
    except ImportError:  # pragma: no cover - comes with scikit-learn
        pass
    request_fd, reply_fd, output_fd, *buffer_fds = fds
    _no_terminal(output_fd)
    try:
        _run_job(request_fd, reply_fd, dict(zip((int(f) for f in job["buffer_fds"]), buffer_fds)), job["buffers"])
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
            data, fds, _, _ = socket.recv_fds(sock, CONTROL_MESSAGE_LIMIT, 4096)
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
