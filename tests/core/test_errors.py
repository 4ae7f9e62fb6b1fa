"""The error classes: every user-facing error is a ReconbenchError, the one class the command line prints as one line
(tests/test_cli.py checks the printing)."""

from __future__ import annotations

import pytest

from reconbench.core.errors import DataError, ReconbenchError, WeightsMissingError


@pytest.mark.parametrize("error", [DataError, WeightsMissingError])
def test_every_error_is_a_reconbench_error_and_keeps_its_message(error) -> None:
    assert issubclass(error, ReconbenchError) and error.__doc__
    with pytest.raises(ReconbenchError, match="^what was expected, what was found$"):
        raise error("what was expected, what was found")
