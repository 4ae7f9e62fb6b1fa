"""The methods folder and the grid of the shared ``tiny`` run (fixture ``tiny_grid_run``).

The test methods are files in ``grid_methods/`` (as a user's would be, so spawned
workers can import them), put in one folder with the example method of docs/add-a-method.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
GRID_METHOD_FILES = Path(__file__).with_name("grid_methods")

#: The methods of the shared run (the example has two parameter sets).
GRID_METHODS = ["my_lowres_ridge", "always_fails", "oracle_copy", "seeded_grey", "wrong_count"]
#: The metrics of the shared run: cheap, and pairwise identification brings the noise ceiling.
GRID_METRICS = ["pairwise_identification", "pixcorr"]


def write_methods_dir(folder: Path) -> Path:
    """Copy the test methods and ``examples/my_method.py`` into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(GRID_METHOD_FILES.glob("*.py")):
        shutil.copy(path, folder / path.name)
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    return folder


def natural_values(rows: pd.DataFrame, method: str, metric: str, param_set: str = "default") -> pd.Series:
    """One method's values of one metric on the natural test set, indexed by stimulus id."""
    sel = rows[(rows["method"] == method) & (rows["param_set"] == param_set) & (rows["test_set"] == "natural") & (rows["metric"] == metric)]
    return sel.set_index("stimulus_id")["value"]
