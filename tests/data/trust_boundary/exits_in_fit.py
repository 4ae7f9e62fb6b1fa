"""Failure: sys.exit(3) in fit."""

import sys

from reconbench.core.method import Method


class ExitsInFit(Method):
    name = "exits_in_fit"

    def fit(self, train):
        sys.exit(3)

    def reconstruct(self, test):
        raise AssertionError("never reached")
