"""The result store: cell files, resume keys, consolidation, round trips."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reconbench.core.errors import ReconbenchError
from reconbench.store.results import (
    COLUMNS,
    KEY_COLUMNS,
    VOLATILE_COLUMNS,
    ResultStore,
    cell_key,
    comparable,
    load_results,
    png_bytes,
)


def rows_for(method: str, values: list[float], *, status: str = "ok") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({
        "dataset": ["simulated:tiny"] * n, "subject": ["sub-01"] * n, "test_set": ["natural"] * n,
        "method": [method] * n, "param_set": ["default"] * n, "params_hash": ["abc"] * n, "seed": [0] * n,
        "metric": ["pixcorr"] * n, "stimulus_id": [f"n{k:03d}" for k in range(n)][::-1], "value": values,
        "higher_is_better": [True] * n, "chance": [np.nan] * n, "kind": ["method"] * n, "status": [status] * n,
        "error": [""] * n, "cell_key": ["k"] * n, "config_hash": ["c"] * n, "params": ["{}"] * n,
        "code_version": ["v"] * n, "package_versions": ["{}"] * n, "fit_seconds": [1.5] * n,
        "reconstruct_seconds": [0.5] * n, "score_seconds": [0.1] * n, "peak_memory_mb": [100.0] * n,
    })


def test_cell_key_identifies_cells() -> None:
    key = cell_key("ridge", "abc", "simulated:tiny", "sub-01", 0)
    assert key == cell_key("ridge", "abc", "simulated:tiny", "sub-01", 0)
    others = {
        cell_key("ridge", "abd", "simulated:tiny", "sub-01", 0),
        cell_key("ridge", "abc", "simulated:default", "sub-01", 0),
        cell_key("ridge", "abc", "simulated:tiny", "sub-02", 0),
        cell_key("ridge", "abc", "simulated:tiny", "sub-01", 1),
        cell_key("ridge2", "abc", "simulated:tiny", "sub-01", 0),
    }
    assert key not in others and len(others) == 5


def test_write_cell_then_finished_and_resume_rules(tmp_path) -> None:
    store = ResultStore(tmp_path)
    assert not store.finished("k1")
    store.write_cell("k1", rows_for("a", [0.1, 0.2]), {"status": "ok", "config_hash": "c1"})
    store.write_cell("k2", rows_for("b", [0.3], status="failed"), {"status": "failed", "config_hash": "c1"})
    assert store.finished("k1") and store.finished("k1", "c1")
    assert not store.finished("k1", "c2"), "a changed config (data or metric recipe) must rerun the cell"
    assert store.finished("k2") and not store.finished("k2", retry_failed=True)
    assert store.cell_keys() == ["k1", "k2"]
    # A record without its rows (crash between the two writes) is not finished.
    (tmp_path / "cells" / "k1.parquet").unlink()
    assert not store.finished("k1")


def test_consolidate_sorted_deterministic_and_round_trips(tmp_path) -> None:
    store = ResultStore(tmp_path)
    store.write_cell("k2", rows_for("b", [0.3, 0.4, 0.5]), {"status": "ok"})
    store.write_cell("k1", rows_for("a", [0.1, 0.2]), {"status": "ok"})
    rows = store.consolidate()
    assert list(rows.columns) == COLUMNS
    assert len(rows) == 5
    assert rows[KEY_COLUMNS].equals(rows[KEY_COLUMNS].sort_values(KEY_COLUMNS).reset_index(drop=True))
    first = {p: hashlib.sha256((tmp_path / p).read_bytes()).hexdigest() for p in ("results.parquet", "results.csv")}
    store.consolidate()
    again = {p: hashlib.sha256((tmp_path / p).read_bytes()).hexdigest() for p in ("results.parquet", "results.csv")}
    assert first == again
    from_parquet = load_results(tmp_path)
    from_csv = load_results(tmp_path / "results.csv")
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_exact=False, rtol=1e-9)
    # The values are the ones written, by stimulus id.
    by_id = dict(zip(from_parquet.loc[from_parquet["method"] == "a", "stimulus_id"], from_parquet.loc[from_parquet["method"] == "a", "value"]))
    assert by_id == {"n001": 0.1, "n000": 0.2}


def test_comparable_drops_only_volatile_columns() -> None:
    frame = rows_for("a", [0.1])
    assert set(frame.columns) - set(comparable(frame).columns) == set(VOLATILE_COLUMNS)


def test_missing_results_name_the_folder(tmp_path) -> None:
    with pytest.raises(ReconbenchError, match=str(tmp_path)):
        load_results(tmp_path)
    with pytest.raises(ReconbenchError, match=r"lack column\(s\) dataset"):
        ResultStore(tmp_path).write_cell("k", pd.DataFrame({"value": [1.0]}), {})


def test_corrupt_record_is_reported(tmp_path) -> None:
    store = ResultStore(tmp_path)
    store.write_cell("k", rows_for("a", [0.1]), {"status": "ok"})
    (tmp_path / "cells" / "k.json").write_text("{not json")
    with pytest.raises(ReconbenchError, match="k.json.*delete it"):
        store.finished("k")


def test_png_bytes_round_trip_with_pillow() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((3, 8, 5)).astype(np.float32)
    import io

    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(image))).convert("RGB"))
    assert decoded.shape == (8, 5, 3)
    np.testing.assert_array_equal(decoded, np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8))
    assert png_bytes(image) == png_bytes(image)


def test_record_is_json(tmp_path) -> None:
    store = ResultStore(tmp_path)
    store.write_cell("k", rows_for("a", [0.1]), {"status": "ok", "errors": {}, "config_hash": "c"})
    assert json.loads((tmp_path / "cells" / "k.json").read_text())["config_hash"] == "c"
