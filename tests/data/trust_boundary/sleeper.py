"""Failure: sleeps far past any cell timeout; prints its pid first (the orphan test kills the run and looks for it)."""

import os
import sys
import time

from reconbench.core.method import Method


class Sleeper(Method):
    name = "sleeper"

    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, train):
        print(f"SLEEPER pid={os.getpid()} ppid={os.getppid()}", file=sys.stderr, flush=True)
        time.sleep(3600)
        return self

    def reconstruct(self, test):
        raise AssertionError("never reached")
