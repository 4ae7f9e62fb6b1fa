"""Writes 73 MB to stdout and stderr (a line first and last), then reconstructs like an honest method."""

import os
import sys

import numpy as np

from reconbench.core.method import Method

LINE = b"x" * 1023 + b"\n"


class FloodsOutput(Method):
    name = "floods_output"

    def fit(self, train):
        print("FLOOD-START", flush=True)
        block = LINE * 1024  # 1 MiB
        for k in range(73):
            os.write(1 if k % 2 else 2, block)
        print("FLOOD-END", file=sys.stderr, flush=True)
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)
