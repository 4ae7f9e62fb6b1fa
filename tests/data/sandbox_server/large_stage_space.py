"""An honest reconstruction with a stage output (M, 4) whose stage space asks the harness for shape maps
of side 3000 (9 million pixels per test image, computed from the true images outside the method's limits)."""

import numpy as np

from reconbench.core.method import Method


class LargeStageSpace(Method):
    name = "large_stage_space"

    def fit(self, train):
        return self

    def reconstruct(self, test):
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, dtype=np.float32)

    def stage_outputs(self, test):
        return {"shape_map": np.zeros((len(test.stimulus_ids), 4), dtype=np.float32)}

    def stage_spaces(self):
        return {"shape_map": {"kind": "shape_map", "size": 3000, "blur_sigma": 1.0, "shape_kind": "blur"}}
