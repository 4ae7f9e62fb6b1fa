"""Reports which file its training images are mapped from (to show that -j workers share one copy)."""

import os
import time

import numpy as np

from reconbench.core.method import Method


class ReportsMapping(Method):
    name = "reports_mapping"
    parameter_sets = {"a": {"tag": "a"}, "b": {"tag": "b"}}

    def __init__(self, tag="a"):
        self.tag = tag

    def fit(self, train):
        address = train.images.__array_interface__["data"][0]
        found = None
        with open(f"/proc/{os.getpid()}/maps") as maps:
            for line in maps:
                fields = line.split()
                start, end = (int(x, 16) for x in fields[0].split("-"))
                if start <= address < end:
                    found = {"inode": int(fields[4]), "path": fields[5] if len(fields) > 5 else ""}
        time.sleep(3)  # long enough that two cells overlap on two workers
        self.stage_log_ = [{"mapping": found, "server": os.getppid(), "writeable": bool(train.images.flags.writeable)}]
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)
