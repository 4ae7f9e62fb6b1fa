"""Failure: sleeps far past any cell timeout; first prints its pid (into the cell's captured output) and
writes it to ``sleeper.pid`` in its private folder (the orphan tests kill the run and look for it there)."""

import os
import sys
import time

from reconbench.core.method import Method


class Sleeper(Method):
    name = "sleeper"

    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, train):
        line = f"SLEEPER pid={os.getpid()} ppid={os.getppid()}"
        print(line, file=sys.stderr, flush=True)
        with open("sleeper.pid", "w") as handle:
            handle.write(line + "\n")
        time.sleep(3600)
        return self

    def reconstruct(self, test):
        raise AssertionError("never reached")
