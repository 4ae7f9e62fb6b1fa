"""Writes its own messages into the pipe the harness reads (found as the write-only pipe beside
stdout and stderr): ``mode`` says which (see ``_forge``); ``size`` is the evaluation size, for a forged
reconstruction."""

import json
import os
import stat
import struct
import time

import numpy as np

from reconbench.core.method import Method


def _reply_fds():
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and os.get_blocking(fd) is not None and (os.O_ACCMODE & _flags(fd)) == os.O_WRONLY:
                found.append(fd)
        except OSError:
            pass
    return found


def _flags(fd):
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETFL)


def _frame(payload: bytes) -> bytes:
    return struct.pack("!Q", len(payload)) + payload


class ForgesFrames(Method):
    name = "forges_frames"

    def __init__(self, mode="fit-garbage", size=32):
        self.mode = mode
        self.size = size  # the evaluation size, for a forged reconstruction of the right shape

    def fit(self, train):
        if self.mode.startswith("fit-"):
            self._forge(self.mode[4:])
        return self

    def reconstruct(self, test):
        if self.mode.startswith("reconstruct-"):
            self._forge(self.mode[len("reconstruct-") :], test)
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)

    def _forge(self, what, test=None):
        (fd,) = _reply_fds()
        if what in ("nan", "bright", "float64"):  # a well-formed reconstruction message whose images are not images
            shape = (len(test.stimulus_ids), 3, self.size, self.size)
            images = np.full(shape, 0.5, dtype=np.float64 if what == "float64" else np.float32)
            images[0, 0, 0, 0] = {"nan": np.nan, "bright": 2.0, "float64": 0.5}[what]
            header = {"type": "reconstruction", "test_set": test.name, "error": "", "seconds": 0.0, "shape": list(shape), "dtype": images.dtype.str}
            os.write(fd, _frame(json.dumps(header).encode()) + _frame(images.tobytes()))
            return
        if what == "garbage":  # a frame that is not JSON
            os.write(fd, _frame(b"\x00not json{"))
        elif what == "list":  # JSON, but not a message
            os.write(fd, _frame(b"[1, 2, 3]"))
        elif what == "unknown":  # a message of a type the harness does not know
            os.write(fd, _frame(json.dumps({"type": "summary", "text": "all good"}).encode()))
        elif what == "huge":  # a frame length of 1 TB, then nothing
            os.write(fd, struct.pack("!Q", 1 << 40) + b"x" * 4096)
        elif what == "half":  # half a frame, then sleep
            os.write(fd, struct.pack("!Q", 1000) + b"x" * 10)
        elif what == "ready-unsealed":  # a second 'ready' that says the cell ran unsealed
            os.write(fd, _frame(json.dumps({"type": "ready", "sealed": False, "seal_note": "forged"}).encode()))
            return
        elif what == "seconds":  # a well-formed fit message with a forged time
            os.write(fd, _frame(json.dumps({"type": "fit", "error": "", "seconds": -1e300}).encode()))
            return
        time.sleep(3600)
