"""Cheating route 2: scan the garbage collector for the Split and copy the test images."""

import gc

import numpy as np

from reconbench.core.method import Method


class CheatGc(Method):
    name = "cheat_gc"

    def fit(self, train):
        return self

    def reconstruct(self, test):
        for obj in gc.get_objects():
            if type(obj).__name__ != "Split":
                continue
            images = obj.test_images
            if test.name in images:
                ids, true = images[test.name]
                position = {str(s): k for k, s in enumerate(ids)}
                return np.asarray(true)[[position[str(s)] for s in test.stimulus_ids]]
        raise RuntimeError("cheat failed: no Split among the live objects")
