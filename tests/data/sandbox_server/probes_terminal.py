"""Looks for a terminal: which of its descriptors are terminals, whether /dev/tty opens, whether a
TIOCSTI push works on any descriptor; prints a forged summary line. Reports all in ``stage_log_``."""

import fcntl
import os
import termios

import numpy as np

from reconbench.core.method import Method


class ProbesTerminal(Method):
    name = "probes_terminal"

    def fit(self, train):
        print("30 cells: 30 run, 0 already done (skipped), 0 failed, in 1.0 s", flush=True)
        fds = sorted(int(name) for name in os.listdir("/proc/self/fd"))
        ttys = [fd for fd in fds if _isatty(fd)]
        pushed = []
        for fd in fds:
            try:
                fcntl.ioctl(fd, termios.TIOCSTI, b"#")
                pushed.append(fd)
            except OSError:
                pass
        try:
            os.close(os.open("/dev/tty", os.O_RDWR))
            dev_tty = True
        except OSError:
            dev_tty = False
        self.stage_log_ = [{"ttys": ttys, "pushed": pushed, "dev_tty": dev_tty, "stdin": os.readlink("/proc/self/fd/0")}]
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
