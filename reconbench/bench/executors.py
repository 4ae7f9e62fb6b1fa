"""Where cells run: in this process, in local worker processes, or on Dask.

Every executor takes the same picklable cell specifications and the same
worker function and yields ``(spec, result)`` as cells finish, so the result
rows do not depend on where a cell ran (a test checks local against Dask).

- ``jobs=1``: cells run one after another in this process.
- ``jobs=N``: a :class:`concurrent.futures.ProcessPoolExecutor` with the
  ``spawn`` start method (no forked torch or BLAS thread pools). Each cell
  sets its own torch/BLAS thread count (``CellSpec.threads``, by default
  ``cpu_count // N``) so N workers do not fight over the cores. The workers
  share each loaded split (one file mapped by all, :mod:`reconbench.bench.shared_split`),
  removed when the pool is done.
- ``scheduler=ADDRESS``: a Dask distributed cluster
  (``distributed.Client(ADDRESS)``). Workers must see the data folder and any
  ``--methods-dir`` at the same paths (a shared file system); results come back
  to this process, which alone writes the results folder.

Stage events (``report(stage, step, total)``) reach the caller's progress
display from the in-process and local-process executors; on Dask only cell
completions are shown.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import queue
import threading
from typing import Any, Callable, Iterator, Sequence

from reconbench.core.errors import ReconbenchError

#: ``on_event(cell_index, stage, step, total)``
EventCallback = Callable[[int, str, int, int], None]


def limit_threads(n_threads: int) -> None:
    """Cap torch and BLAS threads in this process (the runner calls it at the
    start of every cell, in every executor)."""
    try:
        import torch

        torch.set_num_threads(n_threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n_threads)
    except ImportError:  # pragma: no cover - comes with scikit-learn
        pass


class _QueueReporter:
    """A picklable ``report`` callable that forwards stage events to a queue."""

    def __init__(self, events: Any, index: int):
        self.events = events
        self.index = index

    def __call__(self, stage: str, step: int = 0, total: int = 0) -> None:
        try:
            self.events.put((self.index, stage, step, total))
        except Exception:  # noqa: BLE001 - progress must never fail a cell
            pass


#: The stage-event queue of a local worker process (set by :func:`_init_worker`).
_worker_events: Any = None
#: The pid of the process running the grid, in a local worker process (set by :func:`_init_worker`).
_run_pid: int | None = None


def run_process_pid() -> int:
    """The process that runs the grid: this worker's parent in a local worker process, else this
    process (serial runs, Dask workers). Processes of one run share what is keyed on it (the
    loaded splits, :mod:`reconbench.bench.shared_split`)."""
    return _run_pid if _run_pid is not None else os.getpid()


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux
    ``PR_SET_PDEATHSIG``), so a SIGKILLed run leaves no worker behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _init_worker(n_threads: int, events: Any, parent_pid: int) -> None:
    global _worker_events, _run_pid
    _run_pid = parent_pid
    die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    _worker_events = events
    limit_threads(n_threads)


def _call_with_reporter(worker: Callable, spec: Any, index: int) -> Any:
    events = _worker_events
    return worker(spec, report=_QueueReporter(events, index) if events is not None else None)


def _no_report(stage: str, step: int = 0, total: int = 0) -> None:
    return None


def run_serial(worker: Callable, specs: Sequence[Any], on_event: EventCallback | None = None) -> Iterator[tuple[Any, Any]]:
    """Run cells one after another in this process."""
    for index, spec in enumerate(specs):
        if on_event is None:
            report = _no_report
        else:

            def report(stage: str, step: int = 0, total: int = 0, _index: int = index) -> None:
                on_event(_index, stage, step, total)

        yield spec, worker(spec, report=report)


def run_processes(worker: Callable, specs: Sequence[Any], jobs: int, on_event: EventCallback | None = None) -> Iterator[tuple[Any, Any]]:
    """Run cells in ``jobs`` spawned local processes; yield them as they finish."""
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # A plain queue handed to the workers at start (no manager process, which would
    # outlive a SIGKILLed parent).
    events = context.Queue() if on_event is not None else None
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                item = events.get(timeout=0.1)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):  # the queue was closed at shutdown
                return
            on_event(*item)

    drainer = threading.Thread(target=drain, daemon=True) if events is not None else None
    if drainer is not None:
        drainer.start()
    try:
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(threads, events, os.getpid())
        ) as pool:
            futures = {pool.submit(_call_with_reporter, worker, spec, index): spec for index, spec in enumerate(specs)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        stop.set()
        if drainer is not None:
            drainer.join(timeout=2)
        if events is not None:
            events.close()
            events.cancel_join_thread()
        # The workers are gone: remove the splits they shared (kept in this process's name).
        from reconbench.bench.shared_split import remove_splits_folder

        remove_splits_folder()


#: The Dask resource a cell on a CUDA device requests (one per cell): start GPU workers with
#: ``dask worker ADDRESS --resources GPU=1`` (one per GPU, each seeing its own through
#: ``CUDA_VISIBLE_DEVICES``), so the scheduler places those cells there and no two share a GPU.
GPU_RESOURCE = "GPU"


def cell_resources(spec: Any) -> dict[str, float] | None:
    """The Dask resources a cell requests: one :data:`GPU_RESOURCE` when it runs on a CUDA device
    (its method and its network metrics use the GPU), none on the CPU."""
    from reconbench.core.device import is_cuda

    device = getattr(spec, "device", "cpu")
    return {GPU_RESOURCE: 1} if is_cuda(str(device)) else None


def cluster_gpus(scheduler: Any) -> int:
    """The GPUs the workers of a Dask cluster declare (the sum of their :data:`GPU_RESOURCE`)."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ReconbenchError("--scheduler needs Dask distributed: pip install 'reconbench[dask]'") from exc
    if isinstance(scheduler, Client):
        return _declared_gpus(scheduler)
    try:
        with Client(scheduler) as client:
            return _declared_gpus(client)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ReconbenchError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from exc


def _declared_gpus(client: Any) -> int:
    workers = client.scheduler_info().get("workers", {})
    return int(sum((info.get("resources") or {}).get(GPU_RESOURCE, 0) for info in workers.values()))


def resolve_run_device(device: str | None, scheduler: Any = None) -> str:
    """The run's device (:func:`reconbench.core.device.resolve_device`); with a Dask ``scheduler``
    judged by the GPUs its workers declare, not by this machine's."""
    from reconbench.core.device import DEVICE_ENV, resolve_device

    if scheduler is None:
        return resolve_device(device)
    value = str(device if device not in (None, "") else os.environ.get(DEVICE_ENV, "")).strip().lower()
    if value == "cpu":
        return "cpu"
    return resolve_device(device, cluster_gpus=cluster_gpus(scheduler))


def _check_gpu_workers(client: Any, scheduler: Any, n_cells: int) -> None:
    """Refuse before submitting when cells need a GPU and no worker of the cluster declares one (else
    the scheduler would hold them pending forever)."""
    if _declared_gpus(client) >= 1:
        return
    workers = client.scheduler_info().get("workers", {})
    raise ReconbenchError(
        f"{n_cells} cell(s) run on a CUDA device and request a Dask resource {GPU_RESOURCE}=1, but none of the "
        f"{len(workers)} worker(s) of the cluster at {scheduler!r} declares one: start GPU workers with "
        f"'dask worker ADDRESS --resources {GPU_RESOURCE}=1' (one per GPU), or run with --device cpu"
    )


def run_dask(worker: Callable, specs: Sequence[Any], scheduler: Any) -> Iterator[tuple[Any, Any]]:
    """Run cells on a Dask distributed cluster; ``scheduler`` is an address or a Client. A cell on
    a CUDA device requests one :data:`GPU_RESOURCE` (:func:`cell_resources`)."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise ReconbenchError("--scheduler needs Dask distributed: pip install 'reconbench[dask]'") from exc
    own_client = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own_client else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise ReconbenchError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from exc
    try:
        resources = [cell_resources(spec) for spec in specs]
        gpu_cells = sum(r is not None for r in resources)
        if gpu_cells:
            _check_gpu_workers(client, scheduler, gpu_cells)
        # pure=False: two identical specs are still two runs; key by index for a readable dashboard.
        futures = {
            client.submit(worker, spec, pure=False, key=f"reconbench-cell-{index}", resources=need): spec
            for index, (spec, need) in enumerate(zip(specs, resources))
        }
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        if own_client:
            client.close()


def execute(
    worker: Callable,
    specs: Sequence[Any],
    *,
    jobs: int = 1,
    scheduler: Any = None,
    on_event: EventCallback | None = None,
) -> Iterator[tuple[Any, Any]]:
    """Run ``worker(spec, report=...)`` for every spec; yield ``(spec, result)`` as each finishes.

    Parameters
    ----------
    worker : callable
        A module-level (picklable) function ``worker(spec, report=None)``.
    specs : sequence
        Picklable cell specifications.
    jobs : int
        Local processes; 1 runs in this process.
    scheduler : str or distributed.Client, optional
        Run on this Dask cluster instead (``jobs`` is then ignored).
    on_event : callable, optional
        Receives stage events ``(index into specs, stage, step, total)``.
    """
    if jobs < 1:
        raise ReconbenchError(f"-j/--jobs must be at least 1, got {jobs}")
    if scheduler is not None:
        return run_dask(worker, specs, scheduler)
    if jobs == 1 or len(specs) <= 1:
        return run_serial(worker, specs, on_event)
    return run_processes(worker, specs, min(jobs, len(specs)), on_event)
