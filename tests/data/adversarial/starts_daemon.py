"""Route 4: a double-forked daemon in a session of its own (named rbadvdaemon) that holds every
descriptor it inherited and sleeps for ten minutes."""

import ctypes
import os
import time

import numpy as np

from reconbench.core.method import Method


class StartsDaemon(Method):
    name = "adv_starts_daemon"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, b"rbadvdaemon", 0, 0, 0)
                time.sleep(600)
            os._exit(0)
        time.sleep(0.3)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)
