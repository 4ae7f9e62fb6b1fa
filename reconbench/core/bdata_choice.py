"""Which code reads BData files in this process: bdpy, or the project's own reader.

bdpy 0.26 (the newest release) declares ``Requires-Python <3.12``, so the project
depends on it only below Python 3.12. Where it is importable it reads the files
(``auto``); elsewhere :mod:`reconbench.datasets.bdata_reader` does, a reader of the
part of bdpy's ``BData`` the project uses that the tests prove equal to bdpy's on
every test fixture (``tests/datasets/test_bdata_reader.py``). The environment
variable ``RECONBENCH_BDATA_READER`` (``auto``, ``bdpy`` or ``reconbench``) forces
one. Every result row records the choice: its ``package_versions`` name bdpy
exactly when bdpy read the data.

Here (in core) because both the datasets, which read the files, and the result
store, which records the reader, ask it. Nothing is imported to answer.
"""

from __future__ import annotations

import importlib.util
import os

from reconbench.core.errors import ReconbenchError

#: Environment variable that picks the BData reader.
BDATA_READER_ENV = "RECONBENCH_BDATA_READER"
#: What it accepts.
BDATA_READER_CHOICES = ("auto", "bdpy", "reconbench")


def bdpy_installed() -> bool:
    """True where ``import bdpy`` can find the package (it is not imported)."""
    return importlib.util.find_spec("bdpy") is not None


def bdata_reader() -> str:
    """``"bdpy"`` or ``"reconbench"``: the reader of BData files in this process.

    ``$RECONBENCH_BDATA_READER`` unset, empty or ``auto``: bdpy where it is
    installed, else the project's reader.

    Raises
    ------
    ReconbenchError
        An unknown value, or ``bdpy`` asked for where it is not installed.
    """
    given = os.environ.get(BDATA_READER_ENV, "")
    value = given.strip().lower() or "auto"
    if value not in BDATA_READER_CHOICES:
        raise ReconbenchError(f"${BDATA_READER_ENV} {given!r}: expected one of {', '.join(BDATA_READER_CHOICES)}")
    if value == "auto":
        return "bdpy" if bdpy_installed() else "reconbench"
    if value == "bdpy" and not bdpy_installed():
        raise ReconbenchError(
            f"${BDATA_READER_ENV}=bdpy but bdpy is not installed here (bdpy 0.26 declares Requires-Python <3.12); unset it to read with the project's reader"
        )
    return value
