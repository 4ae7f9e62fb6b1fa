"""Cheating route 1: walk the call stack up to the runner's ``split`` and copy the test images."""

import sys

import numpy as np

from reconbench.core.method import Method


class CheatFrames(Method):
    name = "cheat_frames"

    def fit(self, train):
        return self

    def reconstruct(self, test):
        frame = sys._getframe()
        while frame is not None:
            split = frame.f_locals.get("split")
            if split is not None and hasattr(split, "test_images"):
                ids, images = split.test_images[test.name]
                position = {str(s): k for k, s in enumerate(ids)}
                return np.asarray(images)[[position[str(s)] for s in test.stimulus_ids]]
            frame = frame.f_back
        raise RuntimeError("cheat failed: no split on the call stack")
