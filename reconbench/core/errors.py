"""Errors that the command line reports as one clear line and a non-zero exit."""


class ReconbenchError(Exception):
    """A user-facing error: the message says what was expected, what was found
    and, where possible, what to do. The CLI prints it without a traceback."""


class DataError(ReconbenchError):
    """A data file, key or value is missing or malformed."""


class WeightsMissingError(ReconbenchError):
    """Pretrained weights are not in the cache; the message names the fetch command."""
