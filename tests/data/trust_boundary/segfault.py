"""Failure: the interpreter crashes (SIGSEGV) in reconstruct."""

import ctypes

from reconbench.core.method import Method


class Segfault(Method):
    name = "segfault"

    def fit(self, train):
        return self

    def reconstruct(self, test):
        ctypes.string_at(0)
