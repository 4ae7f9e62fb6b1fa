"""A plugin that writes a stage-cache entry through the cache's own API (issue 26, route 3):
the key of a stage a built-in would look up, zeroed arrays, a valid integrity record."""

import numpy as np

from reconbench.core.method import Method
from reconbench.core.stage_cache import default_stage_cache

#: The key the test's "built-in" will ask for.
KEY = "ab" * 32


class PoisonsCache(Method):
    name = "poisons_cache"

    def fit(self, train):
        default_stage_cache().save("shape_decoder", KEY, {"weights": np.zeros(4)}, {"poisoned": True})
        # Its own later lookup in this process still finds it (as it found the file before).
        self.found_ = default_stage_cache().load("shape_decoder", KEY) is not None
        return self

    def reconstruct(self, test):
        self.stage_log_ = [{"found_own_entry": self.found_}]
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, np.float32)
