"""What a sealed method process may read and write (the Landlock rules, :mod:`reconbench.bench.landlock`):
the folders the interpreter imports from, the package, the methods folder and the weights cache to read;
its private folder to write; on a CUDA device the NVIDIA device files and its own ``/proc/<pid>/task``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from reconbench.core.paths import cache_dir
from reconbench.core.stage_cache import STAGE_CACHE_ENV


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
    ranked method; without it joblib runs its tasks one after the other (set in the child), and
    multiprocessing's locks and pools fail, :data:`NO_SHARED_MEMORY_HINT`), not the
    stage cache (the harness writes the entries a method process hands over,
    :func:`_store_stage_entry`)."""
    return [os.getcwd()]
