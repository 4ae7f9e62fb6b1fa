"""Atomic writes: write to a temporary sibling, then rename over the target.

A crash or an error part-way leaves the previous file (or no file), never a
half-written one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from reconbench.core.errors import ReconbenchError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it to ``target``.

    Works for files and folders. On an exception the temporary path is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if target.is_dir() and tmp.is_dir():
            # Folders cannot be renamed over a non-empty folder: move the old one aside first.
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


#: Names :func:`atomic_path` gives its temporary paths (``.NAME.<8 random>[SUFFIX].tmp``)
#: and the folder it moves aside (``.NAME.old``).
_LEFTOVER = re.compile(r"^\..+\.[A-Za-z0-9_]{8}[^/]*\.tmp$|^\..+\.old$")


def remove_orphans(folder: str | os.PathLike) -> list[Path]:
    """Remove what killed atomic writes left under ``folder`` (temporary files and
    folders of :func:`atomic_path`); return the removed paths.

    Only call it while no other process writes into ``folder`` (e.g. under its lock).
    """
    removed = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in list(dirnames) + filenames:
            if not _LEFTOVER.match(name):
                continue
            path = Path(dirpath) / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                dirnames.remove(name)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return sorted(removed)


def open_no_follow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """``os.open(path, flags)`` that never follows a symbolic link at ``path`` and opens only a regular file.

    For lock and cache files in folders a method process might once have written: a symlink
    there cannot make this process create, truncate or lock the file it points to.

    Raises
    ------
    ReconbenchError
        ``path`` is a symbolic link or not a regular file (the message names it).
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0), mode)
    except OSError as exc:
        if os.path.islink(path):
            raise ReconbenchError(f"{path} is a symbolic link, not a file reconbench wrote; remove it (it is not followed)") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ReconbenchError(f"{path} is not a regular file; remove it")
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(fd, True)
    return fd
