"""The project's own BData reader: the part of bdpy's ``BData`` that reconbench uses.

bdpy 0.26 declares ``Requires-Python <3.12``. Where bdpy is not installed (or
``RECONBENCH_BDATA_READER=reconbench``; :mod:`reconbench.core.bdata_choice`),
:func:`reconbench.datasets.ds001506.bdata.open_bdata` returns a
:class:`BDataFile` instead of a ``bdpy.BData``. It offers what the loaders call
and nothing more: ``dataset``, ``metadata.key``, ``metadata.value``,
``select("KEY = 1", return_index=True)``, ``get(KEY)``, ``get_vmap_keys()`` and
``get_labels(KEY)``, with bdpy's results (same values, dtypes and shapes);
``tests/datasets/test_bdata_reader.py`` compares the two on every test fixture
and on a simulated dataset in both layouts.

The format, as bdpy 0.26 reads it (``bdpy/bdata/bdata.py``; read for the facts,
the code here is the project's):

- **HDF5** (``.h5``): ``/dataset`` (samples x columns) read as float64;
  ``/metadata/key`` and ``/metadata/description`` (byte strings, UTF-8) and
  ``/metadata/value`` (keys x columns, float64: 1 marks the columns of a key, NaN
  the others). BrainDecoderToolbox2's names ``/dataSet`` and ``/metaData`` win
  when present. ``/vmap/<key>/<number>`` holds the label of each value of a
  key (e.g. the file name of stimulus 3.0). ``/header`` is not read here: nothing
  in the project uses it.
- **MATLAB** (``.mat``, v7.2 or older, through ``scipy.io.loadmat``): the array
  ``dataSet`` (or ``dataset``) and the struct ``metaData`` (or ``metadata``) whose
  fields ``key`` and ``description`` are 1 x K cell arrays of strings (taken
  from the first row, stripped) and ``value`` a K x columns array; arrays keep
  the dtype ``loadmat`` gives. No value maps. A v7.3 file is HDF5 inside and
  ``loadmat`` refuses it (``NotImplementedError``), as in bdpy; ``open_bdata`` reports that
  as a DataError naming the file.
- **Selection** ``"KEY = 1"``: the columns where KEY's row of ``value`` is
  exactly 1 (the first row named KEY when a key repeats: bdpy looks rows up by
  ``list.index``); the data of those columns, in file order. Other selector expressions of bdpy (``|``, ``&``,
  ``top``, wildcards) are refused: the project does not use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

#: ``KEY = 1`` with a key that bdpy's selector would read as one metadata key (no
#: operator, bracket, quote, wildcard or space).
_KEY_EQUALS_ONE = re.compile(r"\s*([^\s=|&+\-@()'\"*]+)\s*=\s*1\s*")


class MissingKeyError(KeyError, RuntimeError):
    """A selection names a metadata key the file lacks (a ``RuntimeError`` in bdpy, so both are caught)."""


@dataclass
class MetaData:
    """Metadata of a BData file: one key, description and row of ``value`` per key."""

    key: list[str]
    description: list[str]
    value: np.ndarray


def _text(item):
    """A byte string as text (UTF-8); anything else as it is."""
    return item.decode("utf-8") if isinstance(item, bytes) else item


class BDataFile:
    """A BData file read into memory (see the module docstring for the format).

    Parameters
    ----------
    path : str or Path
        A ``.h5`` or ``.mat`` file.

    Raises
    ------
    ValueError
        Another extension, or a value-map name that is not a number.
    OSError
        A file h5py cannot open (truncated, not HDF5).
    KeyError
        A group or array of the format is missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dataset: np.ndarray
        self.metadata: MetaData
        self._vmap: dict[str, dict[float, object]] = {}
        suffix = self.path.suffix
        if suffix == ".h5":
            self._read_h5()
        elif suffix == ".mat":
            self._read_mat()
        else:
            raise ValueError(f"{self.path}: unknown BData file extension {suffix!r}; expected .h5 or .mat")

    def _read_h5(self) -> None:
        with h5py.File(self.path, "r") as h5:
            meta = h5["metaData"] if "metaData" in h5 else h5["metadata"]
            keys = [_text(k) for k in meta["key"][:].tolist()]
            descriptions = [_text(d) for d in meta["description"][:].tolist()]
            value = np.asarray(meta["value"], dtype=np.float64)
            self.dataset = np.asarray(h5["dataSet"] if "dataSet" in h5 else h5["dataset"], dtype=np.float64)
            if "vmap" in h5:
                for name, group in h5["vmap"].items():
                    self._vmap[name] = {float(number): _text(entry[()]) for number, entry in group.items()}
        self.metadata = MetaData(key=keys, description=descriptions, value=value)

    def _read_mat(self) -> None:
        import scipy.io

        contents = scipy.io.loadmat(str(self.path))
        meta = contents["metaData"] if "metaData" in contents else contents["metadata"]

        def strings(name: str) -> list[str]:
            first_row = np.asarray(meta[name][0, 0])[0]
            return [str(cell[0]).strip() for cell in first_row]

        self.metadata = MetaData(key=strings("key"), description=strings("description"), value=np.asarray(meta["value"][0, 0]))
        self.dataset = np.asarray(contents["dataSet"] if "dataSet" in contents else contents["dataset"])

    # The part of bdpy's interface the project uses.

    def _columns(self, key: str) -> np.ndarray:
        """Boolean mask of the columns marked 1 in the first metadata row named ``key``."""
        if key not in self.metadata.key:
            raise MissingKeyError(f"{self.path}: metadata key {key!r} not found")
        return np.asarray(self.metadata.value)[self.metadata.key.index(key)] == 1

    def select(self, condition: str, return_index: bool = False, verbose: bool = True):
        """The columns of ``"KEY = 1"`` (and their boolean mask with ``return_index``), as bdpy's ``select``.

        ``verbose`` is accepted for bdpy's signature; nothing is printed.
        """
        match = _KEY_EQUALS_ONE.fullmatch(condition)
        if match is None or match.group(1).isdigit():
            raise ValueError(f"the project's BData reader selects only 'KEY = 1' (one metadata key), not {condition!r}")
        index = self._columns(match.group(1))
        selected = self.dataset[:, index]
        return (selected, index) if return_index else selected

    def get(self, key: str) -> np.ndarray:
        """The columns of ``key`` (``select(f"{key} = 1")``)."""
        return self.select(f"{key} = 1")

    def get_vmap_keys(self):
        """Keys that have a value map (``/vmap``)."""
        return self._vmap.keys()

    def get_labels(self, key: str) -> list:
        """The label of every value of ``key`` (row by row), ``'n/a'`` for NaN.

        Raises
        ------
        ValueError
            ``key`` has no value map.
        KeyError
            A value with no label in the map (the value itself is the key error's argument).
        """
        if key not in self._vmap:
            raise ValueError(f"Key not found in vmap: {key}")
        mapping = self._vmap[key]
        return ["n/a" if np.isnan(v) else mapping[v] for v in self.dataset[:, self._columns(key)].flatten()]
