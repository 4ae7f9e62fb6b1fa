"""Fails in ``reconstruct`` in one of several ways (``mode``): an exception that is not an Exception,
an exception whose message cannot be made, leaving the process (``os._exit``) in the first test set, or
returning what is not a reconstruction (complex, not square, NaN, above 1)."""

import os

import numpy as np

from reconbench.core.method import Method


class Interrupted(BaseException):
    pass


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message")


class RaisesInStages(Method):
    name = "raises_in_stages"

    def __init__(self, mode="exit"):
        self.mode = mode

    def fit(self, train):
        return self

    def reconstruct(self, test):
        if self.mode == "base":
            raise Interrupted("stopped on purpose")
        if self.mode == "unprintable":
            raise Unprintable()
        if self.mode == "exit":
            os._exit(7)
        if self.mode == "complex":
            return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5 + 0.25j, dtype=np.complex64)
        if self.mode == "wide":
            return np.full((len(test.stimulus_ids), 3, 8, 16), 0.5, dtype=np.float32)
        if self.mode in ("nan", "bright"):  # not images: a NaN, or a value above 1 (which a resize would clip)
            images = np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)
            images[0, 0, 0, 0] = np.nan if self.mode == "nan" else 1.5
            return images
        if self.mode == "large":  # 1024 x 1024 images: resized in the method process, not in the harness
            return np.full((len(test.stimulus_ids), 3, 1024, 1024), 0.5, dtype=np.float32)
        raise ValueError(self.mode)
