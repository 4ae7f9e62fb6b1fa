"""Property-based tests (hypothesis) over the result store, the stage cache,
``compare`` and the command-line options (issue 17): generated inputs never
give a raw traceback and never a wrong number.

Case counts per test are in ``settings(max_examples=...)``; together they
exceed 1,000 generated cases.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reconbench.cli import main
from reconbench.core.errors import ReconbenchError
from reconbench.core.stage_cache import StageCache, stage_key
from reconbench.leaderboard.regression import compare_leaderboards
from reconbench.leaderboard.render import to_csv
from reconbench.leaderboard.tables import summarise
from reconbench.store.results import ResultStore, load_results
from tests.leaderboard.conftest import make_rows

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

values_strategy = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=12)


def _rows(values: list[float], key: str) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "dataset": "simulated:tiny",
            "subject": "sub-01",
            "test_set": "natural",
            "method": "m",
            "param_set": "default",
            "params_hash": "h",
            "seed": 0,
            "metric": "pixcorr",
            "stimulus_id": [f"s{k:03d}" for k in range(n)],
            "value": values,
            "higher_is_better": True,
            "chance": np.nan,
            "kind": "method",
            "status": "ok",
            "error": "",
            "cell_key": key,
            "config_hash": "c",
            "params": "{}",
            "code_version": "v",
            "package_versions": "{}",
            "fit_seconds": 1.0,
            "reconstruct_seconds": 1.0,
            "score_seconds": 1.0,
            "peak_memory_mb": 1.0,
            "threads": 1,
            "weights": "{}",
        }
    )


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equal, except that every NaN equals every NaN (the payload of a NaN is no score)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nan = np.isnan(a)
    return a.shape == b.shape and np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.int64), b[~nan].view(np.int64))


@settings(max_examples=300, **QUICK)
@given(
    values=values_strategy,
    cut=st.integers(min_value=0, max_value=10_000),
    flip=st.integers(min_value=0, max_value=10_000),
    corrupt_record=st.booleans(),
    mode=st.sampled_from(["none", "truncate", "flip", "record"]),
)
def test_store_round_trips_exactly_and_never_serves_a_damaged_cell(values, cut, flip, corrupt_record, mode) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(folder)
        store.write_cell("k", _rows(values, "k"), {"status": "ok", "config_hash": "c"})
        rows_file, record_file = Path(folder) / "cells" / "k.parquet", Path(folder) / "cells" / "k.json"
        if mode == "truncate":
            data = rows_file.read_bytes()
            rows_file.write_bytes(data[: cut % len(data)])
        elif mode == "flip":
            data = bytearray(rows_file.read_bytes())
            data[flip % len(data)] ^= 0x01 << (flip % 8)
            rows_file.write_bytes(bytes(data))
        elif mode == "record":
            data = record_file.read_bytes()
            record_file.write_bytes(data[: cut % len(data)] if corrupt_record else b"[]")
        with store.open_for_run() as reports:
            if mode == "none":
                assert reports == [] and store.finished("k", "c")
                rows = store.consolidate()
                assert _same_bits(rows.sort_values("stimulus_id")["value"].to_numpy(), np.asarray(values, np.float64))
                assert _same_bits(load_results(folder).sort_values("stimulus_id")["value"].to_numpy(), np.asarray(values, np.float64))
            else:
                # Damaged: reported once and gone from the folder, never read as numbers.
                assert len(reports) == 1 and not store.finished("k")
                assert store.consolidate().empty


@settings(max_examples=250, **QUICK)
@given(
    array=arrays(np.float64, st.integers(1, 40), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
    position=st.integers(0, 100_000),
    other=st.booleans(),
)
def test_stage_cache_returns_the_stored_arrays_or_recomputes(array, position, other) -> None:
    with tempfile.TemporaryDirectory() as folder:
        cache = StageCache(folder)
        key, other_key = stage_key("stage", {"n": 1}, threads=1), stage_key("stage", {"n": 2}, threads=1)
        cache.save("stage", key, {"x": array})
        cache.save("stage", other_key, {"x": array + 1})
        path = cache.path("stage", key)
        if other:
            shutil.copyfile(cache.path("stage", other_key), path)
        else:
            data = bytearray(path.read_bytes())
            data[position % len(data)] ^= 0xFF
            path.write_bytes(bytes(data))
        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):
            found = cache.load("stage", key)
        if found is not None:
            assert _same_bits(found[0]["x"], array), "a damaged entry was served with other numbers"
        else:
            assert not path.exists(), "a rejected entry is moved aside"


_BASE = summarise(
    make_rows(
        {
            ("good", "method", "pairwise_identification"): np.linspace(0.6, 0.9, 10),
            ("poor", "method", "pairwise_identification"): np.linspace(0.3, 0.6, 10),
            ("good", "method", "lpips"): np.linspace(0.2, 0.4, 10),
        }
    )
)
#: Rows that compare checks (method, oracle and reference rows; not chance or literature rows).
_COMPARED = [int(i) for i in _BASE.index[_BASE["kind"].isin(["method", "oracle", "reference"])]]


@settings(max_examples=250, **QUICK)
@given(
    shift=st.floats(allow_nan=True, allow_infinity=True),
    tolerance=st.floats(allow_nan=True, allow_infinity=True),
    row=st.sampled_from(_COMPARED),
    blank=st.booleans(),
)
def test_compare_never_passes_a_move_beyond_its_tolerance(tmp_path_factory, shift, tolerance, row, blank) -> None:
    folder = tmp_path_factory.mktemp("compare")
    reference = folder / "reference.csv"
    reference.write_text(to_csv(_BASE))
    new = _BASE.copy()
    new["mean"] = new["mean"].astype(object)
    new.loc[row, "mean"] = "" if blank else float(new.loc[row, "mean"]) + shift
    (folder / "new.csv").write_text(to_csv(new))
    try:
        report = compare_leaderboards(folder / "new.csv", reference, tolerance=tolerance)
    except ReconbenchError:
        assert not (math.isfinite(tolerance) and tolerance >= 0), "a usable tolerance was refused"
        return
    assert math.isfinite(tolerance) and tolerance >= 0, "a NaN, infinite or negative tolerance was accepted"
    moved_beyond = blank or not math.isfinite(shift) or abs(shift) > tolerance + 1e-6
    if moved_beyond:
        assert not report.ok
    elif abs(shift) < tolerance - 1e-6:
        assert report.ok


option_text = st.one_of(st.text(max_size=12), st.integers(-(10**22), 10**22).map(str), st.sampled_from(["0", "-2", "", ",", "1,2", "nan"]))


@pytest.mark.parametrize("option", ["--seeds", "--threads", "--jobs"])
def test_cli_options_end_in_one_line_never_a_traceback(tiny_data_dir, tmp_path_factory, capsys, option) -> None:
    out = tmp_path_factory.mktemp("cli") / "out"

    @settings(max_examples=100, **QUICK)
    @given(value=option_text)
    def check(value: str) -> None:
        # An unknown method stops a run whose options are valid, so no case computes anything.
        argv = ["run", "--dataset", "simulated:tiny", "--data", str(tiny_data_dir), "--out", str(out), "--methods", "no_such_method", f"{option}={value}"]
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        captured = capsys.readouterr()
        assert exit_info.value.code == 2, (value, captured.err)
        assert "Traceback" not in captured.err and captured.err.strip(), value
        assert not out.exists()

    check()
