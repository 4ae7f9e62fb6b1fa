"""Failure: os._exit(0) in fit (looked like success before)."""

import os

from reconbench.core.method import Method


class HardExit(Method):
    name = "hard_exit"

    def fit(self, train):
        os._exit(0)

    def reconstruct(self, test):
        raise AssertionError("never reached")
