"""The one owner of the compute device (DESIGN.md, "Devices").

A run resolves its device once, here: the ``--device`` argument, else the
environment variable ``RECONBENCH_DEVICE``, else ``auto`` (CUDA when torch
sees a GPU, else the CPU). The harness carries the resolved name in each cell
spec beside the thread count, hands it to a method as it hands the seed (the
``device`` keyword of ``__init__``), records :func:`device_info` in every
result row and adds :func:`device_kind` to every cache key whose value depends
on it (never for the CPU, so CPU keys are what they were). No other module
picks a device.

Device names: ``cpu``, ``cuda`` (the current GPU) and ``cuda:N``. Keys use the
kind only (``cuda``), so a cell computed on ``cuda:1`` is the same cell as on
``cuda:0``; the rows name the GPU model.

torch is imported lazily: resolving ``cpu`` imports nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Iterator

from reconbench.core.errors import ReconbenchError

#: Environment variable naming the device when ``--device`` is not given.
DEVICE_ENV = "RECONBENCH_DEVICE"
#: What ``--device`` accepts.
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
#: cuBLAS's setting for deterministic results (read when cuBLAS starts, so it is set before any CUDA work).
CUBLAS_WORKSPACE = ":4096:8"
_CUDA_NAME = re.compile(r"cuda(?::(\d+))?")


def _cuda_count() -> int:
    """GPUs torch can use here (0 without a CUDA build or a driver)."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def resolve_device(device: str | None = None, *, cluster_gpus: int | None = None) -> str:
    """The device of a run: ``device``, else ``$RECONBENCH_DEVICE``, else ``auto``.

    Parameters
    ----------
    device : str, optional
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (case and spaces ignored).
    cluster_gpus : int, optional
        Where cells run on a Dask cluster: the GPUs its workers declare (resource ``GPU``). CUDA
        and ``auto`` are then judged by them, not by this machine's GPUs (the workers start CUDA).

    Returns
    -------
    str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``auto`` gives ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    Raises
    ------
    ReconbenchError
        An unknown name, or CUDA (or GPU N) asked for where there is none.
    """
    explicit = device is not None and str(device).strip() != ""
    given = str(device) if explicit else os.environ.get(DEVICE_ENV, "")
    source = "--device" if explicit or not given.strip() else f"${DEVICE_ENV}"
    value = str(given).strip().lower() or "auto"
    if value == "cpu":
        return "cpu"
    remote = cluster_gpus is not None
    if value == "auto":
        resolved = "cuda" if (cluster_gpus if remote else _cuda_count()) > 0 else "cpu"
        if resolved == "cuda" and not remote:
            prepare_cuda()
        return resolved
    match = _CUDA_NAME.fullmatch(value)
    if match is None:
        raise ReconbenchError(f"{source} {given!r}: expected {DEVICE_CHOICES}")
    if remote:
        if cluster_gpus < 1:
            raise ReconbenchError(
                f"{source} {value}: no worker of the Dask cluster declares a GPU (start GPU workers with "
                "'dask worker ADDRESS --resources GPU=1', one per GPU); pass --device cpu or auto"
            )
        return value
    count = _cuda_count()
    if count == 0:
        import torch

        build = torch.version.cuda or "none (a CPU-only build)"
        raise ReconbenchError(f"{source} {value}: torch sees no CUDA GPU here (torch {torch.__version__}, CUDA build {build}); pass --device cpu or auto")
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise ReconbenchError(f"{source} {value}: there are {count} GPU(s) here, numbered 0 to {count - 1}")
    prepare_cuda()
    return value


def device_kind(device: str) -> str:
    """``"cpu"`` or ``"cuda"``: what cache and cell keys record (see the module docstring)."""
    value = str(device).strip().lower()
    if value == "cpu":
        return "cpu"
    if _CUDA_NAME.fullmatch(value):
        return "cuda"
    raise ReconbenchError(f"device {device!r}: expected cpu, cuda or cuda:N (resolve 'auto' with resolve_device first)")


def is_cuda(device: str) -> bool:
    """True for ``cuda`` and ``cuda:N``."""
    return device_kind(device) == "cuda"


def torch_device(device: str):
    """The ``torch.device`` of a resolved device name."""
    import torch

    device_kind(device)
    return torch.device(str(device).strip().lower())


def prepare_cuda() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` (unless the user set it) before CUDA starts in this
    process and the processes it starts: cuBLAS reads it once, and deterministic
    matrix products need it."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


@contextlib.contextmanager
def deterministic(device: str) -> Iterator[None]:
    """Run a block with torch's deterministic settings on a CUDA device
    (``torch.use_deterministic_algorithms(True)``, cuDNN deterministic, no cuDNN
    benchmarking); restore them after. On the CPU it changes nothing: the CPU
    kernels used here are deterministic for a fixed thread count, and the CPU path
    stays exactly as it was."""
    if not is_cuda(device):
        yield
        return
    import torch

    prepare_cuda()
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn


@contextlib.contextmanager
def full_precision(device: str) -> Iterator[None]:
    """Run a block with TensorFloat-32 off on a CUDA device (cuDNN convolutions use it by
    default on recent GPUs, which rounds their inputs to 10-bit mantissas): the metric
    networks score in float32 as on the CPU. Restored after; nothing changes on the CPU."""
    if not is_cuda(device):
        yield
        return
    import torch

    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def rng_devices(device: str) -> list[int]:
    """The CUDA device indices whose random state ``torch.random.fork_rng`` must save and restore ([] on the CPU)."""
    if not is_cuda(device):
        return []
    index = torch_device(device).index
    if index is None:
        import torch

        index = torch.cuda.current_device()
    return [int(index)]


#: Result-row columns of :func:`device_info`.
DEVICE_COLUMNS = ("device", "gpu_name", "cuda_version", "cudnn_version", "torch_version")


def device_info(device: str) -> dict[str, Any]:
    """What every result row records of the device (:data:`DEVICE_COLUMNS`), as strings.

    ``gpu_name``, ``cuda_version`` and ``cudnn_version`` are empty on the CPU.
    """
    import torch

    info = {"device": str(device), "gpu_name": "", "cuda_version": "", "cudnn_version": "", "torch_version": str(torch.__version__)}
    if is_cuda(device):
        dev = torch_device(device)
        info["gpu_name"] = str(torch.cuda.get_device_name(dev))
        info["cuda_version"] = str(torch.version.cuda or "")
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        info["cudnn_version"] = "" if cudnn is None else str(cudnn)
    return info


def peak_gpu_memory_mb(device: str) -> float | None:
    """``torch.cuda.max_memory_allocated`` of ``device`` in MB, or None on the CPU (or before CUDA started)."""
    if not is_cuda(device):
        return None
    import torch

    if not torch.cuda.is_initialized():
        return 0.0
    return float(torch.cuda.max_memory_allocated(torch_device(device))) / 2**20
