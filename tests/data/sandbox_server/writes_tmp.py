"""Writes a file into its temporary folder and reports where that folder is."""

import os
import tempfile

import numpy as np

from reconbench.core.method import Method


class WritesTmp(Method):
    name = "writes_tmp"

    def fit(self, train):
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(b"x")
        self.stage_log_ = [{"tmp": handle.name, "cwd": os.getcwd(), "pid": os.getpid(), "ppid": os.getppid()}]
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)
