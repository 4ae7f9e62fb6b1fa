"""A plugin that writes into the stage-cache folder directly (issue 26, route 3): the seal refuses it."""

import numpy as np

from reconbench.core.method import Method
from reconbench.core.stage_cache import default_stage_cache


class WritesCacheFile(Method):
    name = "writes_cache_file"

    def fit(self, train):
        root = default_stage_cache().root
        try:
            (root / "planted.npz").write_bytes(b"x")
            self.result_ = "written"
        except OSError as exc:
            self.result_ = type(exc).__name__
        return self

    def reconstruct(self, test):
        self.stage_log_ = [{"result": self.result_}]
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, np.float32)
