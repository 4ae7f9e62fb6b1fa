"""The harness's stdout and stderr on a terminal (a pty), for tests of what a method can do to it."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def stdout_on_a_terminal() -> Iterator[list[bytes]]:
    """Point file descriptors 1 and 2 at a fresh pty for the block; on exit restore them and append to the
    yielded list what reached the terminal (at most 64 KiB)."""
    master, slave = os.openpty()
    saved = [os.dup(1), os.dup(2)]
    shown: list[bytes] = []
    try:
        os.dup2(slave, 1)
        os.dup2(slave, 2)
        yield shown
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [slave]:
            os.close(fd)
        os.set_blocking(master, False)
        try:
            shown.append(os.read(master, 1 << 16))
        except OSError:
            shown.append(b"")
        os.close(master)
