"""A plugin that reports the stimulus ids it is given (issue 26, route 7): opaque ids name no image."""

import numpy as np

from reconbench.core.method import Method


class ReportsIds(Method):
    name = "reports_ids"

    def fit(self, train):
        self.seen_ = {}
        return self

    def reconstruct(self, test):
        self.seen_[test.name] = [str(s) for s in test.stimulus_ids]
        self.stage_log_ = [self.seen_]
        # Row k gets the value k / M: the harness must map the rows back to the real ids by position.
        m = len(test.stimulus_ids)
        return np.broadcast_to((np.arange(m, dtype=np.float32) / m)[:, None, None, None], (m, 3, 8, 8)).copy()
