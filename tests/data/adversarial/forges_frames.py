"""Route 4: writes a malformed frame, then half a frame, into the pipe the harness reads."""

import fcntl
import os
import stat
import struct
import time

import numpy as np

from reconbench.core.method import Method


class ForgesFrames(Method):
    name = "adv_forges_frames"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode) and (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE) == os.O_WRONLY:
                    os.write(fd, struct.pack("!Q", 9) + b"\x00garbage{")
                    os.write(fd, struct.pack("!Q", 2**40))  # a huge announced length, then nothing
            except OSError:
                pass
        time.sleep(30)
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)
