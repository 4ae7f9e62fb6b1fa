"""A loaded split shared by every process of one run.

Loading a subject's split reads and converts the data files (on ``full``, about
8.8 GB at peak for one subject), and the cells of one subject run side by side
on the ``-j`` workers, each of which would otherwise keep a copy of its own. Here
the first process of a run that needs a split loads it and writes it once into
two files (the pickled :class:`~reconbench.core.types.Split` with every array
out of band, page-aligned: one with the training data and test inputs, one with
the test images); every process of the run, itself included, then maps them
read-only. The pages are the kernel's page cache: one copy
whatever the number of workers, shared with each cell's method process, which
gets the descriptor of the first file (never a path, never the test images)
and maps the same pages.

Where: ``$TMPDIR/reconbench-splits-<pid>-<start time>/`` of the process that
runs the grid (the parent of the ``-j`` workers, or the process itself when
cells run serially). The run removes the folder when it ends; one left by a
SIGKILLed run is removed at the next start (:func:`remove_stale_split_folders`).
The folder is private (mode 0700) and not readable by a sealed method process.
"""

from __future__ import annotations

import atexit
import dataclasses
import fcntl
import hashlib
import json
import mmap
import os
import pickle
import shutil
import struct
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable

from reconbench.bench.sandbox import SPLIT_GLOBALS, _process_tag, load_restricted, register_shared, remove_stale_cell_folders, unregister_shared

SPLITS_PREFIX = "reconbench-splits-"
_MAGIC = b"RBSPLIT1"
_HEAD = struct.Struct("!8sQ")
_ALIGN = mmap.ALLOCATIONGRANULARITY


def remove_stale_split_folders(tmp: str | os.PathLike | None = None) -> list[Path]:
    """Remove the split folders of runs whose process is gone (same rule as the cell folders)."""
    return remove_stale_cell_folders(tmp, prefix=SPLITS_PREFIX)


def splits_folder(run_pid: int) -> Path:
    """The shared split folder of the run whose grid process is ``run_pid``."""
    return Path(tempfile.gettempdir()) / f"{SPLITS_PREFIX}{_process_tag(run_pid)}"


def remove_splits_folder(run_pid: int | None = None) -> None:
    """Remove a run's split folder (the run's process calls it when the grid is done)."""
    shutil.rmtree(splits_folder(os.getpid() if run_pid is None else run_pid), ignore_errors=True)


def _write(split: Any, path: Path) -> None:
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(split, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    layout, offset = [], 0
    for raw in raws:
        offset = -(-offset // _ALIGN) * _ALIGN
        layout.append([offset, raw.nbytes])
        offset += raw.nbytes
    header = json.dumps({"payload": len(payload), "buffers": layout}).encode()
    start = -(-(_HEAD.size + len(header) + len(payload)) // _ALIGN) * _ALIGN
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(_HEAD.pack(_MAGIC, len(header)) + header + payload)
        for (where, _), raw in zip(layout, raws):
            handle.seek(start + where)
            handle.write(raw)
        handle.truncate(start + offset)
    os.chmod(tmp, 0o400)
    os.replace(tmp, path)


def _open(path: Path) -> Any:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    magic, header_len = _HEAD.unpack(mapped[: _HEAD.size])
    if magic != _MAGIC:
        raise OSError(f"{path} is not a shared split file")
    header = json.loads(mapped[_HEAD.size : _HEAD.size + header_len])
    payload_at = _HEAD.size + header_len
    start = -(-(payload_at + header["payload"]) // _ALIGN) * _ALIGN
    whole = memoryview(mapped)
    views = [whole[start + where : start + where + n] for where, n in header["buffers"]]
    # A file in the run's private folder, but still read with an allow-list: a swapped file can build nothing but a Split of arrays.
    split = load_restricted(mapped[payload_at : payload_at + header["payload"]], views, allowed=SPLIT_GLOBALS, what=f"shared split file {path}")
    addresses = [register_shared(view, fd, start + where) for view, (where, _) in zip(views, header["buffers"])]
    # The arrays keep the mapping alive; when the last goes, so do its entries and the descriptor.
    weakref.finalize(mapped, _forget, addresses, fd)
    return split


def _forget(addresses: list[int], fd: int) -> None:
    unregister_shared(addresses)
    try:
        os.close(fd)
    except OSError:
        pass


def load_shared(key: tuple, run_pid: int, load: Callable[[], Any]) -> Any:
    """The split ``load()`` returns, loaded once per run and mapped from the run's shared file.

    ``key`` identifies the split (data folder, subject, stimulus folder); the first
    process to ask loads it under a lock while the others wait, then maps it.
    """
    folder = splits_folder(run_pid)
    if not folder.is_dir():
        remove_stale_split_folders()
        folder.mkdir(mode=0o700, exist_ok=True)
        if run_pid == os.getpid():  # a serial run or a Dask worker: gone with this process
            atexit.register(shutil.rmtree, folder, True)
    name = hashlib.sha256(json.dumps([str(k) for k in key]).encode()).hexdigest()[:32]
    # Two files: what a method may get (training data, test inputs), whose descriptor its
    # process receives, and the test images, which never leave the harness's processes.
    inputs_path, truth_path = folder / f"{name}.inputs", folder / f"{name}.truth"
    with open(folder / f"{name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not inputs_path.is_file():
            split = load()
            _write(split.test_images, truth_path)
            _write(dataclasses.replace(split, test_images={}), inputs_path)
            del split
    return dataclasses.replace(_open(inputs_path), test_images=_open(truth_path))
