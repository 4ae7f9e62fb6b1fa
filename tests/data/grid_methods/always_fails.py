"""A method whose ``fit`` raises: a failed cell, and the run goes on."""

from reconbench.core.method import Method


class AlwaysFails(Method):
    name = "always_fails"

    def fit(self, train):
        raise ValueError("deliberate failure in fit")

    def reconstruct(self, test):
        raise AssertionError("never reached")
