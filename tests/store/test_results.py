"""The result store: cell files, resume keys, consolidation, round trips."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.store.results import (
    COLUMNS,
    KEY_COLUMNS,
    VOLATILE_COLUMNS,
    ResultStore,
    cell_key,
    comparable,
    load_results,
)


def rows_for(method: str, values: list[float], *, status: str = "ok") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "dataset": ["simulated:tiny"] * n,
            "subject": ["sub-01"] * n,
            "test_set": ["natural"] * n,
            "method": [method] * n,
            "param_set": ["default"] * n,
            "params_hash": ["abc"] * n,
            "seed": [0] * n,
            "metric": ["pixcorr"] * n,
            "stimulus_id": [f"n{k:03d}" for k in range(n)][::-1],
            "value": values,
            "higher_is_better": [True] * n,
            "chance": [np.nan] * n,
            "kind": ["method"] * n,
            "status": [status] * n,
            "error": [""] * n,
            "cell_key": ["k"] * n,
            "config_hash": ["c"] * n,
            "params": ["{}"] * n,
            "code_version": ["v"] * n,
            "package_versions": ["{}"] * n,
            "fit_seconds": [1.5] * n,
            "reconstruct_seconds": [0.5] * n,
            "score_seconds": [0.1] * n,
            "peak_memory_mb": [100.0] * n,
        }
    )


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


def _truncate(path):
    path.write_bytes(path.read_bytes()[:40])


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_value(path):
    frame = pd.read_parquet(path)
    frame.loc[0, "value"] = 0.999
    frame.to_parquet(path, index=False)


CORRUPTIONS = {
    "truncated rows": ("parquet", _truncate),
    "empty rows": ("parquet", lambda p: p.write_bytes(b"")),
    "byte-flipped rows": ("parquet", _flip),
    "edited value": ("parquet", _edit_value),
    "record is a list": ("json", lambda p: p.write_text("[1, 2]")),
    "record not JSON": ("json", lambda p: p.write_text("{not json")),
    "record not UTF-8": ("json", lambda p: p.write_bytes(b"\xff\xfe{")),
    "record of another cell": ("json", lambda p: p.write_text(json.dumps({"key": "other", "status": "ok"}))),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_cells_are_detected_moved_aside_and_not_finished(tmp_path, corruption) -> None:
    """Finding 2: corrupt cell files gave tracebacks or were trusted; now each is
    reported once, moved to cells/quarantine/ and counted as not finished."""
    suffix, corrupt = CORRUPTIONS[corruption]
    store = ResultStore(tmp_path)
    store.write_cell("k", rows_for("a", [0.1, 0.2]), {"status": "ok", "config_hash": "c"})
    store.write_cell("sound", rows_for("b", [0.3]), {"status": "ok", "config_hash": "c"})
    corrupt(tmp_path / "cells" / f"k.{suffix}")
    assert not store.finished("k", "c")
    with pytest.raises(ReconbenchError, match="corrupt"):
        store.load_cells()
    reports = store.repair()
    assert len(reports) == 1 and reports[0].startswith("cell k:")
    assert store.repair() == [], "reported once"
    assert store.cell_keys() == ["sound"] and store.finished("sound", "c")
    quarantined = sorted(p.name for p in (tmp_path / "cells" / "quarantine").iterdir())
    assert any(name.endswith(".reason.txt") for name in quarantined)
    assert list(store.load_cells()["value"]) == [0.3]


def test_cells_written_before_checksums_are_still_accepted(tmp_path) -> None:
    store = ResultStore(tmp_path)
    frame = rows_for("a", [0.1]).assign(cell_key="k")
    store.write_cell("k", frame, {"status": "ok"})
    record_path = tmp_path / "cells" / "k.json"
    record = json.loads(record_path.read_text())
    del record["rows_sha256"]
    record_path.write_text(json.dumps(record))
    assert store.finished("k") and store.repair() == []
    (tmp_path / "cells" / "k.parquet").write_bytes(b"PAR1 garbage")
    assert not store.finished("k")


def test_rows_written_before_new_run_columns_still_read(tmp_path) -> None:
    old = rows_for("a", [0.1, 0.2])
    assert "threads" not in old.columns and "weights" not in old.columns
    old.to_parquet(tmp_path / "results.parquet", index=False)
    rows = load_results(tmp_path)
    assert list(rows.columns) == COLUMNS
    assert rows["threads"].isna().all() and (rows["weights"] == "").all()


def test_a_committed_folder_without_cells_keeps_every_row(tmp_path) -> None:
    """Finding 1: rows of results.parquet without cell files were dropped by the next consolidation."""
    store = ResultStore(tmp_path)
    store.write_cell("k1", rows_for("a", [0.1, 0.2]).assign(cell_key="k1"), {"status": "ok", "config_hash": "c1"})
    store.write_cell("k2", rows_for("b", [0.3], status="failed").assign(cell_key="k2"), {"status": "failed", "config_hash": "c1"})
    committed = store.consolidate()
    import shutil

    shutil.rmtree(tmp_path / "cells")  # as committed: results.parquet only
    with store.open_for_run() as reports:
        assert any("2 cell(s)" in line for line in reports)
        assert store.finished("k1", "c") and store.finished("k2", "c") and not store.finished("k2", retry_failed=True)
        store.write_cell("k3", rows_for("new", [0.5]).assign(cell_key="k3"), {"status": "ok"})
        rows = store.consolidate()
    assert len(rows) == len(committed) + 1
    pd.testing.assert_frame_equal(rows[rows["cell_key"] != "k3"].reset_index(drop=True), committed)


def test_an_unreadable_consolidated_file_stops_the_run_with_one_line(tmp_path) -> None:
    (tmp_path / "results.parquet").write_bytes(b"nonsense")
    with pytest.raises(ReconbenchError, match="unreadable.*move it aside"):
        with ResultStore(tmp_path).open_for_run():
            pass


def test_one_run_at_a_time_and_the_message_names_the_holder(tmp_path) -> None:
    """Finding 4: two runs into one --out both computed every cell."""
    import os

    with ResultStore(tmp_path).open_for_run():
        with pytest.raises(ReconbenchError, match=rf"another reconbench run \(pid {os.getpid()} on "):
            with ResultStore(tmp_path).open_for_run():
                pass
    with ResultStore(tmp_path).open_for_run():  # released
        pass


def test_leftovers_of_killed_writes_are_removed_on_start(tmp_path) -> None:
    """Finding 5: .NAME.xxxx.tmp files left by kills at renames stayed forever."""
    (tmp_path / "cells").mkdir()
    leftovers = [
        tmp_path / "cells" / ".abc.json.k3j_x9ab.tmp",
        tmp_path / ".results.parquet.q1w2e3r4.tmp",
        tmp_path / "cells" / ".abc.parquet.zzzzzzzz.npz.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"partial")
    (tmp_path / "leaderboard" / ".plots.old").mkdir(parents=True)
    keep = tmp_path / "cells" / "k.json"
    keep.write_text("{}")
    with ResultStore(tmp_path).open_for_run() as reports:
        assert len([line for line in reports if "leftover" in line]) == 4
    assert not any(path.exists() for path in leftovers) and not (tmp_path / "leaderboard" / ".plots.old").exists()
    assert keep.exists()


@pytest.mark.parametrize("make", ["file", "unwritable"])
def test_an_unusable_results_folder_is_one_line(tmp_path, make) -> None:
    import os

    target = tmp_path / "out"
    if make == "file":
        target.write_text("x")
        match = "is a file"
    else:
        if os.getuid() == 0:
            pytest.skip("root writes anywhere")
        target.mkdir()
        target.chmod(0o500)
        match = "not writable.*--user"
    with pytest.raises(ReconbenchError, match=match):
        with ResultStore(target).open_for_run():
            pass


def test_record_is_json(tmp_path) -> None:
    store = ResultStore(tmp_path)
    store.write_cell("k", rows_for("a", [0.1]), {"status": "ok", "errors": {}, "config_hash": "c"})
    assert json.loads((tmp_path / "cells" / "k.json").read_text())["config_hash"] == "c"


def test_a_cpu_cell_key_is_unchanged_and_a_gpu_cell_is_another_cell() -> None:
    # The key of this cell before the device existed (reconbench 7dd53c1): committed CPU cells keep theirs.
    assert cell_key("ridge", "abc", "simulated:tiny", "sub-01", 0) == "803ae687621d8502"
    assert cell_key("ridge", "abc", "simulated:tiny", "sub-01", 0, "cpu") == "803ae687621d8502"
    on_gpu = cell_key("ridge", "abc", "simulated:tiny", "sub-01", 0, "cuda")
    assert on_gpu != "803ae687621d8502"
    assert cell_key("ridge", "abc", "simulated:tiny", "sub-01", 0, "cuda:1") == on_gpu  # the kind, not the index


def test_rows_without_device_columns_read_as_unrecorded(tmp_path) -> None:
    old = rows_for("a", [0.1, 0.2])
    old.to_parquet(tmp_path / "results.parquet", index=False)
    rows = load_results(tmp_path)
    for column in ("device", "gpu_name", "cuda_version", "cudnn_version", "torch_version"):
        assert column in COLUMNS and (rows[column] == "").all()
    recorded = old.assign(device="cuda:0", gpu_name="NVIDIA H200", cuda_version="13.0", cudnn_version="91002", torch_version="2.11.0")
    recorded.to_parquet(tmp_path / "results.parquet", index=False)
    rows = load_results(tmp_path)
    assert set(rows["device"]) == {"cuda:0"} and set(rows["gpu_name"]) == {"NVIDIA H200"} and set(rows["cudnn_version"]) == {"91002"}


@pytest.mark.parametrize("rel", ["../outside.png", "/tmp/absolute.png", "reconstructions/../../outside.png", "link/escaped.png"])
def test_cell_files_stay_inside_the_results_folder(tmp_path, rel) -> None:
    """Issue 26, route 2: no file of a cell is written outside --out (a name with '../', an absolute
    path, a folder that is a symbolic link leading out)."""
    root = tmp_path / "out"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ReconbenchError, match="leaves the results folder"):
        ResultStore(root).write_cell("k", rows_for("a", [0.1]), {"status": "ok"}, files={rel: b"png"})
    assert not (tmp_path / "outside.png").exists() and not (tmp_path / "escaped.png").exists()


def test_a_symlinked_results_lock_is_not_followed(tmp_path) -> None:
    """Issue 26, route 2: a lock file replaced by a symbolic link does not make a run create its target."""
    root = tmp_path / "out"
    root.mkdir()
    target = tmp_path / "created_by_the_run"
    (root / ResultStore.LOCK_NAME).symlink_to(target)
    with pytest.raises(ReconbenchError, match="symbolic link"):
        with ResultStore(root).open_for_run():
            pass
    assert not target.exists()


@pytest.mark.parametrize("edit", ["value", "extra_row", "csv"])
def test_the_leaderboard_refuses_a_consolidated_file_that_differs_from_the_cells(tmp_path, edit) -> None:
    """Issue 26, route 6: ``reconbench leaderboard`` checks results.parquet (or .csv) against the
    verified cells: a hand-edited file is refused with a clear error, an untouched one renders."""
    from reconbench.leaderboard import write_leaderboard

    store = ResultStore(tmp_path)
    store.write_cell("k1", rows_for("a", [0.1, 0.2]).assign(cell_key="k1"), {"status": "ok"})
    store.write_cell("k2", rows_for("b", [0.3]).assign(cell_key="k2"), {"status": "ok"})
    store.consolidate()
    write_leaderboard(tmp_path)  # untouched: renders
    write_leaderboard(tmp_path / "results.csv")
    rows = pd.read_parquet(tmp_path / "results.parquet")
    target = tmp_path / "results.parquet"
    if edit == "value":
        rows.loc[rows["method"] == "b", "value"] = 0.99
    elif edit == "extra_row":
        rows = pd.concat([rows, rows[rows["method"] == "b"].assign(method="forged", cell_key="k3")], ignore_index=True)
    else:
        target = tmp_path / "results.csv"
        rows.loc[rows["method"] == "a", "value"] = 0.95
        rows.to_csv(target, index=False)
    if edit != "csv":
        rows.to_parquet(target, index=False)
    with pytest.raises(ReconbenchError, match=r"does not match the verified cells"):
        write_leaderboard(target)
