"""The request a test hands to :func:`reconbench.bench.sandbox.run_method` for a method file
``<methods_dir>/<stem>.py`` whose class is ``stem`` in CamelCase (what the harness builds from a cell)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def method_request(stem: str, methods_dir: Path, *, params: dict | None = None, threads: int = 1, size: int | None = None) -> dict[str, Any]:
    """The request of one method process; ``size``: the evaluation size it resizes to (None: none given)."""
    request = {
        "method": stem,
        "methods_dir": str(methods_dir),
        "params": params or {},
        "seed": 0,
        "threads": threads,
        "seal": True,
        "module": f"reconbench_user_methods.{stem}",
        "class": "".join(part.title() for part in stem.split("_")),
        "file": str(Path(methods_dir) / f"{stem}.py"),
    }
    if size is not None:
        request["size"] = size
    return request
